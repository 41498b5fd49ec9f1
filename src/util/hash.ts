import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json';

/** Hex SHA-256 of a string (as UTF-8) or of bytes. Uses node:crypto: activities only, never workflow code. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Short content id for store keys: the first 16 hex digits of sha256(canonical JSON). */
export function contentId(value: unknown): string {
  return sha256Hex(canonicalJson(value)).slice(0, 16);
}
