import { randomBytes } from 'node:crypto';
import type { Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import {
  AesGcmPayloadCodec,
  payloadCodecFrom,
  payloadKeyFrom,
  PayloadKeyError,
} from '../../src/temporal/payload-codec';

const json = (v: unknown): Payload => ({
  metadata: { encoding: new TextEncoder().encode('json/plain') },
  data: new TextEncoder().encode(JSON.stringify(v)),
});

describe('the AES-GCM payload codec', () => {
  const codec = new AesGcmPayloadCodec(randomBytes(32));

  it('round-trips metadata and data; the ciphertext shows neither; each encryption differs', async () => {
    const plain = json({ spec: 'specs/secret-spec.md' });
    const [a] = await codec.encode([plain]);
    const [b] = await codec.encode([plain]);
    expect(Buffer.from(a.metadata!.encoding!).toString()).toBe('binary/encrypted');
    expect(Buffer.from(a.data!).toString('latin1')).not.toContain('secret-spec');
    expect(Buffer.from(a.data!).equals(Buffer.from(b.data!))).toBe(false);
    const [back] = await codec.decode([a]);
    expect(Buffer.from(back.metadata!.encoding!).toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(back.data!).toString())).toEqual({ spec: 'specs/secret-spec.md' });
  });

  it('passes unencrypted payloads through decode (history written before the key was set)', async () => {
    const plain = json([1, 2]);
    expect(await codec.decode([plain])).toEqual([plain]);
  });

  it('refuses a payload of another key with the fix, and a tampered one', async () => {
    const [sealed] = await codec.encode([json('x')]);
    const other = new AesGcmPayloadCodec(randomBytes(32));
    await expect(other.decode([sealed])).rejects.toThrow(
      /encrypted with key [0-9a-f]{16}, but MSM_PAYLOAD_KEY here is key [0-9a-f]{16}: set the same MSM_PAYLOAD_KEY/,
    );
    const data = Buffer.from(sealed.data!);
    data[20] ^= 1;
    await expect(codec.decode([{ ...sealed, data }])).rejects.toThrow();
  });

  it('reads the key from MSM_PAYLOAD_KEY: unset is off, a malformed key is refused with how to make one', () => {
    expect(payloadCodecFrom({})).toBeUndefined();
    expect(payloadKeyFrom({ MSM_PAYLOAD_KEY: randomBytes(32).toString('base64') })).toHaveLength(32);
    for (const bad of [randomBytes(16).toString('base64'), 'not a key'])
      expect(() => payloadKeyFrom({ MSM_PAYLOAD_KEY: bad })).toThrow(PayloadKeyError);
    expect(() => payloadKeyFrom({ MSM_PAYLOAD_KEY: 'short' })).toThrow(/openssl rand -base64 32/);
  });
});
