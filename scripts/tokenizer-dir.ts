// Prints the folder holding a tokenizer family's tokenizer.json + tokenizer_config.json (derived files
// included, e.g. gemma3's text-only tokenizer), for scripts/setup.sh: `node --import tsx scripts/tokenizer-dir.ts gemma3`.
import path from 'node:path';
import { tokenizerFiles, type TokenizerFamily } from '../src/tokenize/tokenizer';

console.log(path.dirname(tokenizerFiles(process.argv[2] as TokenizerFamily).tokenizerJson));
