import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactNotFoundError, type ArtifactStore } from '../../src/store/artifact-store';
import { FsArtifactStore } from '../../src/store/fs-store';
import { readJson, writeJson } from '../../src/store/json';
import { openStore } from '../../src/store/open-store';
import { S3ArtifactStore } from '../../src/store/s3-store';
import { SeaweedS3 } from '../helpers/seaweedfs';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** One contract, two implementations: the local filesystem and S3 on a real SeaweedFS server. */
function contract(name: string, make: () => ArtifactStore) {
  describe(`${name} artifact store`, () => {
    let store: ArtifactStore;
    beforeAll(() => {
      store = make();
    });

    it('puts and gets with content hashes and URIs', async () => {
      const r = await store.put('a/b/c.txt', 'hello');
      expect(r).toMatchObject({ key: 'a/b/c.txt', size: 5, sha256: sha('hello') });
      expect(r.uri).toBe(store.uri('a/b/c.txt'));
      expect(r.uri.startsWith(store.rootUri)).toBe(true);
      expect((await store.get('a/b/c.txt')).toString()).toBe('hello');
      expect(await store.exists('a/b/c.txt')).toBe(true);
      expect(await store.exists('a/b/missing.txt')).toBe(false);
      await store.put('a/b/c.txt', 'replaced');
      expect((await store.get('a/b/c.txt')).toString()).toBe('replaced');
    });

    it('reports a missing key as ArtifactNotFoundError', async () => {
      await expect(store.get('nope/x.json')).rejects.toBeInstanceOf(ArtifactNotFoundError);
      await expect(store.getFile('nope/x.json', path.join(os.tmpdir(), 'never'))).rejects.toBeInstanceOf(
        ArtifactNotFoundError,
      );
    });

    it('moves files both ways', async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-store-file-'));
      const src = path.join(dir, 'big.bin');
      const data = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
      writeFileSync(src, data);
      const r = await store.putFile('files/big.bin', src);
      expect(r).toMatchObject({ size: data.length, sha256: sha(data) });
      const back = path.join(dir, 'sub', 'back.bin');
      await store.getFile('files/big.bin', back);
      expect(sha(readFileSync(back))).toBe(sha(data));
      expect(readdirSync(path.dirname(back))).toEqual(['back.bin']);
    });

    it('lists sorted keys under a prefix and deletes a prefix', async () => {
      for (const k of ['l/2.json', 'l/1.json', 'l/sub/3.json', 'lx/4.json']) await writeJson(store, k, { k });
      expect(await store.list('l/')).toEqual(['l/1.json', 'l/2.json', 'l/sub/3.json']);
      expect(await readJson(store, 'l/sub/3.json')).toEqual({ k: 'l/sub/3.json' });
      await store.deletePrefix('l/');
      expect(await store.list('l/')).toEqual([]);
      expect(await store.list('lx/')).toEqual(['lx/4.json']);
    });

    it('rejects keys that could escape the root', async () => {
      for (const bad of ['', '/abs', 'a/../b', 'a//b', './a'])
        await expect(async () => store.put(bad, 'x')).rejects.toThrow(/invalid artifact key/);
    });
  });
}

contract('filesystem', () => new FsArtifactStore(mkdtempSync(path.join(os.tmpdir(), 'msm-fs-store-'))));

describe('filesystem specifics', () => {
  it('leaves no temp files and writes through rename', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'msm-fs-atomic-'));
    const store = new FsArtifactStore(root);
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.put('same/key.txt', `writer ${i}`.repeat(1000))));
    expect(readdirSync(path.join(root, 'same'))).toEqual(['key.txt']);
    expect((await store.get('same/key.txt')).toString()).toMatch(/^(writer \d+)+$/);
  });

  it('openStore picks the implementation from the URI', () => {
    expect(openStore('file:///tmp/x')).toBeInstanceOf(FsArtifactStore);
    expect(openStore('relative/dir').rootUri).toBe(`file://${path.resolve('relative/dir')}`);
    expect(openStore('s3://bucket/prefix')).toBeInstanceOf(S3ArtifactStore);
    expect(() => openStore('gs://bucket')).toThrow(
      /unsupported artifact store "gs:\/\/bucket": use a path, file:\/\/\/absolute\/dir or s3:\/\/bucket\/prefix/,
    );
  });
});

let s3: SeaweedS3;
beforeAll(async () => {
  s3 = await SeaweedS3.start();
}, 120_000);
afterAll(async () => {
  await s3?.stop();
});
contract(
  'S3 (SeaweedFS)',
  () =>
    new S3ArtifactStore(`s3://${s3.bucket}/runs/test`, {
      endpoint: s3.endpoint,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    }),
);
