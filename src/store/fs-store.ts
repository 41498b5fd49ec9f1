import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ArtifactNotFoundError, type ArtifactStore, type PutResult } from './artifact-store';
import { checkKey, checkPrefix } from './keys';

const TMP_MARK = '.msm-tmp-';

async function fileSha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Local filesystem store (the embedded default). Writes go to a temp file, are fsynced, then renamed. */
export class FsArtifactStore implements ArtifactStore {
  readonly rootUri: string;
  private readonly root: string;

  constructor(rootUri: string) {
    this.root = rootUri.startsWith('file://') ? fileURLToPath(rootUri) : path.resolve(rootUri);
    this.rootUri = pathToFileURL(this.root).href;
  }

  private file(key: string): string {
    return path.join(this.root, ...checkKey(key).split('/'));
  }

  uri(key: string): string {
    return pathToFileURL(this.file(key)).href;
  }

  async exists(key: string): Promise<boolean> {
    return stat(this.file(key)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await readFile(this.file(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ArtifactNotFoundError(this.uri(key));
      throw e;
    }
  }

  /** Temp file in the target folder (same filesystem), so the final rename is atomic. */
  private async atomically(key: string, write: (tmp: string) => Promise<void>): Promise<string> {
    const dest = this.file(key);
    await mkdir(path.dirname(dest), { recursive: true });
    const tmp = path.join(path.dirname(dest), `${TMP_MARK}${randomBytes(6).toString('hex')}`);
    try {
      await write(tmp);
      const fh = await open(tmp, 'r');
      await fh.sync();
      await fh.close();
      await rename(tmp, dest);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    return dest;
  }

  async put(key: string, data: Buffer | string): Promise<PutResult> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    await this.atomically(key, async (tmp) => {
      const fh = await open(tmp, 'w');
      await fh.writeFile(buf);
      await fh.close();
    });
    return { uri: this.uri(key), key, sha256: createHash('sha256').update(buf).digest('hex'), size: buf.length };
  }

  async putFile(key: string, localPath: string): Promise<PutResult> {
    const dest = await this.atomically(key, (tmp) => copyFile(localPath, tmp));
    return { uri: this.uri(key), key, sha256: await fileSha256(dest), size: (await stat(dest)).size };
  }

  async getFile(key: string, localPath: string): Promise<void> {
    if (!(await this.exists(key))) throw new ArtifactNotFoundError(this.uri(key));
    await mkdir(path.dirname(localPath), { recursive: true });
    const tmp = `${localPath}${TMP_MARK}${randomBytes(6).toString('hex')}`;
    await copyFile(this.file(key), tmp);
    await rename(tmp, localPath);
  }

  async list(prefix: string): Promise<string[]> {
    checkPrefix(prefix);
    const cut = prefix.lastIndexOf('/');
    const dirKey = cut >= 0 ? prefix.slice(0, cut) : '';
    const start = dirKey ? path.join(this.root, ...dirKey.split('/')) : this.root;
    const entries = await readdir(start, { recursive: true, withFileTypes: true }).catch(() => []);
    return entries
      .filter((e) => e.isFile() && !e.name.startsWith(TMP_MARK))
      .map((e) => path.relative(this.root, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
      .filter((k) => k.startsWith(prefix))
      .sort();
  }

  async deletePrefix(prefix: string): Promise<void> {
    for (const key of await this.list(prefix)) await rm(this.file(key), { force: true });
  }
}
