/**
 * Rebuild the frozen judge-calibration sets from evals/calibration/ and record their hashes and counts:
 *   node --import tsx scripts/build-calibration-sets.ts            # every kind
 *   node --import tsx scripts/build-calibration-sets.ts leaking    # one kind
 * Re-recording a hash changes what "calibrated" means: say so in the commit.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CALIBRATION_DIR, CALIBRATION_KINDS, type CalibrationKind } from '../src/eval/judge-calibration';
import { buildCalibrationSet, calibrationJsonl } from '../src/eval/suites/calibration-sets';
import { sha256Hex } from '../src/util/hash';

const asked = process.argv.slice(2);
const unknown = asked.filter((k) => !(CALIBRATION_KINDS as readonly string[]).includes(k));
if (unknown.length) {
  console.error(`unknown kind(s) ${unknown.join(', ')}; the kinds are ${CALIBRATION_KINDS.join(', ')}`);
  process.exit(2);
}
const kinds = (asked.length ? asked : CALIBRATION_KINDS) as CalibrationKind[];
const manifestFile = path.join(CALIBRATION_DIR, 'manifest.json');
for (const kind of kinds) {
  const items = buildCalibrationSet(kind);
  const text = calibrationJsonl(items);
  const file = `${kind}.jsonl`;
  writeFileSync(path.join(CALIBRATION_DIR, file), text);
  // Read just before writing: another kind may have been rebuilt meanwhile.
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Record<string, unknown>;
  const shows = items.filter((i) => i.shows).length;
  manifest[kind] = { file, sha256: sha256Hex(text), shows, clean: items.length - shows };
  writeFileSync(manifestFile, JSON.stringify(manifest, null, 2) + '\n');
  console.log(`${file}: ${shows} showing, ${items.length - shows} clean`);
}
