import { canonicalJson } from '../util/canonical-json';
import { sha256Hex } from '../util/hash';
import type { ModelSpec } from './types';

/** Content hash (sha256 hex) of a parsed spec or spec variant's canonical JSON. */
export function specHash(spec: ModelSpec): string {
  return sha256Hex(canonicalJson(spec));
}
