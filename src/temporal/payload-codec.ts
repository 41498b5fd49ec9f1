import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';

/**
 * Optional encryption of everything msm puts in Temporal's history (workflow inputs such as the spec paths,
 * provider settings and eval prompts, activity inputs and results, outputs): AES-256-GCM with a key from
 * MSM_PAYLOAD_KEY, set alike on every client and worker. The Temporal server and whoever reads its database
 * see ciphertext; the Web UI shows the payloads through `msm codec-server` (src/temporal/codec-server.ts).
 * Search attributes and failure messages stay readable (Temporal indexes and displays them as they are).
 */
export const PAYLOAD_KEY_VARIABLE = 'MSM_PAYLOAD_KEY';
export const ENCRYPTED_ENCODING = 'binary/encrypted';
const CIPHER = 'AES-256-GCM';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Bound into every tag: a ciphertext of another format or program does not decrypt as msm's. */
const AAD = Buffer.from('msm-payload-v1');

export class PayloadKeyError extends Error {
  override name = 'PayloadKeyError';
}

/** The 32-byte key in MSM_PAYLOAD_KEY (base64); undefined when unset. A malformed key is an error with the fix. */
export function payloadKeyFrom(env: NodeJS.ProcessEnv = process.env): Buffer | undefined {
  const text = env[PAYLOAD_KEY_VARIABLE]?.trim();
  if (!text) return undefined;
  const key = Buffer.from(text, 'base64');
  if (key.length !== 32 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text))
    throw new PayloadKeyError(
      `${PAYLOAD_KEY_VARIABLE} must be 32 random bytes in base64 (44 characters); make one with: openssl rand -base64 32`,
    );
  return key;
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? []).toString('utf8');

/** A payload as bytes: its metadata and data, so decryption restores both (the encoding is in the metadata). */
function serialize(p: Payload): Buffer {
  const metadata = Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]),
  );
  return Buffer.from(JSON.stringify({ metadata, data: Buffer.from(p.data ?? []).toString('base64') }));
}

function deserialize(b: Buffer): Payload {
  const o = JSON.parse(b.toString('utf8')) as { metadata: Record<string, string>; data: string };
  const metadata = Object.fromEntries(Object.entries(o.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
  return { metadata, data: Buffer.from(o.data, 'base64') };
}

/** AES-256-GCM over whole payloads; payloads it did not encrypt pass through decode unchanged. */
export class AesGcmPayloadCodec implements PayloadCodec {
  /** Names the key without revealing it: a payload sealed under another key says so. */
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 16);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.seal(p));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => (text(p.metadata?.encoding) === ENCRYPTED_ENCODING ? this.open(p) : p));
  }

  private seal(p: Payload): Payload {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce).setAAD(AAD);
    const sealed = Buffer.concat([nonce, cipher.update(serialize(p)), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        encoding: utf8(ENCRYPTED_ENCODING),
        'encryption-cipher': utf8(CIPHER),
        'encryption-key-id': utf8(this.keyId),
      },
      data: sealed,
    };
  }

  private open(p: Payload): Payload {
    const keyId = text(p.metadata?.['encryption-key-id']);
    if (keyId !== this.keyId)
      throw new PayloadKeyError(
        `a payload was encrypted with key ${keyId || '(unnamed)'}, but ${PAYLOAD_KEY_VARIABLE} here is key ${this.keyId}: set the same ${PAYLOAD_KEY_VARIABLE} on every client, worker and codec server`,
      );
    const b = Buffer.from(p.data ?? []);
    const decipher = createDecipheriv('aes-256-gcm', this.key, b.subarray(0, NONCE_BYTES)).setAAD(AAD);
    decipher.setAuthTag(b.subarray(b.length - TAG_BYTES));
    return deserialize(
      Buffer.concat([decipher.update(b.subarray(NONCE_BYTES, b.length - TAG_BYTES)), decipher.final()]),
    );
  }
}

/** The codec for MSM_PAYLOAD_KEY, or undefined when it is unset. */
export function payloadCodecFrom(env: NodeJS.ProcessEnv = process.env): AesGcmPayloadCodec | undefined {
  const key = payloadKeyFrom(env);
  return key && new AesGcmPayloadCodec(key);
}

/** Spread into Client and Worker options: with MSM_PAYLOAD_KEY set, every payload is encrypted. */
export function dataConverterOption(env: NodeJS.ProcessEnv = process.env): { dataConverter?: DataConverter } {
  const codec = payloadCodecFrom(env);
  return codec ? { dataConverter: { payloadCodecs: [codec] } } : {};
}
