import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArtifactNotFoundError, type ArtifactStore, type PutResult } from './artifact-store';
import { checkKey, checkPrefix } from './keys';

export interface S3StoreOptions {
  endpoint?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle?: boolean;
}

function isNotFound(e: unknown): boolean {
  const err = e as S3ServiceException;
  return err?.name === 'NoSuchKey' || err?.name === 'NotFound' || err?.$metadata?.httpStatusCode === 404;
}

/** Transient S3 faults say so, so the caller's retry policy (Temporal's) applies. */
function explain(e: unknown, what: string): Error {
  const status = (e as S3ServiceException)?.$metadata?.httpStatusCode;
  if (status === undefined || status >= 500 || status === 429) {
    return new Error(`transient S3 error during ${what}: ${(e as Error).message}`, { cause: e });
  }
  return e as Error;
}

/**
 * S3 (or any S3-compatible endpoint). A PUT is atomic per object; multi-object artifacts are completed by
 * a marker object that their writer puts last. Settings come from options or the environment:
 * MSM_S3_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly rootUri: string;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly s3: S3Client;

  constructor(rootUri: string, opts: S3StoreOptions = {}) {
    const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(rootUri);
    if (!m) throw new Error(`invalid S3 store URI "${rootUri}": use s3://bucket or s3://bucket/prefix`);
    this.bucket = m[1];
    this.prefix = m[2].replace(/\/+$/, '');
    this.rootUri = `s3://${this.bucket}${this.prefix ? '/' + this.prefix : ''}`;
    const endpoint = opts.endpoint ?? process.env.MSM_S3_ENDPOINT;
    const accessKeyId = opts.accessKeyId ?? process.env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = opts.secretAccessKey ?? process.env.AWS_SECRET_ACCESS_KEY;
    this.s3 = new S3Client({
      endpoint,
      region: opts.region ?? process.env.AWS_REGION ?? 'us-east-1',
      forcePathStyle: opts.forcePathStyle ?? !!endpoint,
      credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
    });
  }

  private objectKey(key: string): string {
    checkKey(key);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  uri(key: string): string {
    return `s3://${this.bucket}/${this.objectKey(key)}`;
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw explain(e, `HEAD ${this.uri(key)}`);
    }
  }

  private async body(key: string): Promise<Readable> {
    try {
      const r = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return r.Body as Readable;
    } catch (e) {
      if (isNotFound(e)) throw new ArtifactNotFoundError(this.uri(key));
      throw explain(e, `GET ${this.uri(key)}`);
    }
  }

  async get(key: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of await this.body(key)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  async put(key: string, data: Buffer | string): Promise<PutResult> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    try {
      await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Body: buf }));
    } catch (e) {
      throw explain(e, `PUT ${this.uri(key)}`);
    }
    return { uri: this.uri(key), key, sha256: createHash('sha256').update(buf).digest('hex'), size: buf.length };
  }

  async putFile(key: string, localPath: string): Promise<PutResult> {
    const size = (await stat(localPath)).size;
    const h = createHash('sha256');
    for await (const c of createReadStream(localPath)) h.update(c as Buffer);
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          Body: createReadStream(localPath),
          ContentLength: size,
        }),
      );
    } catch (e) {
      throw explain(e, `PUT ${this.uri(key)}`);
    }
    return { uri: this.uri(key), key, sha256: h.digest('hex'), size };
  }

  async getFile(key: string, localPath: string): Promise<void> {
    const body = await this.body(key);
    await mkdir(path.dirname(localPath), { recursive: true });
    const tmp = `${localPath}.msm-tmp-${randomBytes(6).toString('hex')}`;
    try {
      await pipeline(body, createWriteStream(tmp));
      await rename(tmp, localPath);
    } catch (e) {
      await rm(tmp, { force: true });
      throw explain(e, `download of ${this.uri(key)}`);
    }
  }

  async list(prefix: string): Promise<string[]> {
    checkPrefix(prefix);
    const full = this.prefix ? `${this.prefix}/${prefix}` : prefix;
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const r = await this.s3
        .send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: full, ContinuationToken: token }))
        .catch((e) => {
          throw explain(e, `LIST ${this.rootUri}/${prefix}`);
        });
      for (const o of r.Contents ?? []) if (o.Key) keys.push(this.prefix ? o.Key.slice(this.prefix.length + 1) : o.Key);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  async deletePrefix(prefix: string): Promise<void> {
    const keys = await this.list(prefix);
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((k) => ({ Key: this.objectKey(k) }));
      await this.s3.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch } }));
    }
  }
}
