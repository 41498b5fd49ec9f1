/**
 * The `.idx` half of Megatron-LM's MMapIndexedDataset (megatron/core/datasets/indexed_dataset.py), all
 * little-endian:
 *   magic           9 bytes  "MMIDIDX\0\0"
 *   version         uint64   1
 *   dtype code      uint8    4 = int32 (1 uint8, 2 int8, 3 int16, 5 int64, 6 float64, 7 float32, 8 uint16)
 *   sequence count  uint64   S
 *   document count  uint64   D (length of document indices: documents + 1)
 *   sizes           int32    x S  tokens in each sequence
 *   pointers        int64    x S  byte offset of each sequence in the .bin
 *   document idx    int64    x D  sequence index where each document starts, then S
 * The `.bin` is the sequences' tokens back to back in that dtype.
 */
export const MEGATRON_MAGIC = Buffer.from('MMIDIDX\x00\x00', 'latin1');
export const MEGATRON_VERSION = 1n;
export const DTYPE_INT32 = 4;
const HEADER_BYTES = 9 + 8 + 1 + 8 + 8;

export interface MegatronIndex {
  dtypeCode: number;
  sizes: Int32Array;
  pointers: BigInt64Array;
  documentIndices: BigInt64Array;
}

/** One sequence per document (Megatron's preprocess_data layout for unsplit documents): document i = sequence i. */
export function encodeIndex(sizes: ArrayLike<number>, dtypeCode = DTYPE_INT32, itemSize = 4): Buffer {
  const s = sizes.length;
  const d = s + 1;
  const buf = Buffer.alloc(HEADER_BYTES + 4 * s + 8 * s + 8 * d);
  let o = MEGATRON_MAGIC.copy(buf, 0);
  o = buf.writeBigUInt64LE(MEGATRON_VERSION, o);
  o = buf.writeUInt8(dtypeCode, o);
  o = buf.writeBigUInt64LE(BigInt(s), o);
  o = buf.writeBigUInt64LE(BigInt(d), o);
  for (let i = 0; i < s; i++) o = buf.writeInt32LE(sizes[i], o);
  let ptr = 0n;
  for (let i = 0; i < s; i++) {
    o = buf.writeBigInt64LE(ptr, o);
    ptr += BigInt(sizes[i]) * BigInt(itemSize);
  }
  for (let i = 0; i < d; i++) o = buf.writeBigInt64LE(BigInt(i), o);
  return buf;
}

/** Parse and check an .idx (tests, and the reader's guard against a torn or foreign file). */
export function decodeIndex(buf: Buffer, where: string): MegatronIndex {
  const fail = (why: string): never => {
    throw new Error(`${where}: not a Megatron MMapIndexedDataset index (${why})`);
  };
  if (buf.length < HEADER_BYTES || !buf.subarray(0, 9).equals(MEGATRON_MAGIC)) fail('bad magic');
  if (buf.readBigUInt64LE(9) !== MEGATRON_VERSION) fail(`version ${buf.readBigUInt64LE(9)}`);
  const dtypeCode = buf.readUInt8(17);
  const s = Number(buf.readBigUInt64LE(18));
  const d = Number(buf.readBigUInt64LE(26));
  if (buf.length !== HEADER_BYTES + 4 * s + 8 * s + 8 * d)
    fail(`${buf.length} bytes for ${s} sequences and ${d} document indices`);
  // Copy out: the Buffer's byteOffset need not be aligned for typed views.
  const at = (off: number, bytes: number) => new Uint8Array(buf.subarray(off, off + bytes)).buffer;
  const sizes = new Int32Array(at(HEADER_BYTES, 4 * s));
  const pointers = new BigInt64Array(at(HEADER_BYTES + 4 * s, 8 * s));
  const documentIndices = new BigInt64Array(at(HEADER_BYTES + 12 * s, 8 * d));
  return { dtypeCode, sizes, pointers, documentIndices };
}
