import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildComparison,
  ComparisonError,
  contrastLines,
  rateLines,
  renderComparisonHtml,
  renderComparisonMarkdown,
} from './compare';
import type { Results } from './results';

/** A results.json given as a path, a report folder or a file:// URI. */
function readResults(where: string): Results {
  let p = where.startsWith('file://') ? fileURLToPath(where) : path.resolve(where);
  if (existsSync(p) && statSync(p).isDirectory()) p = path.join(p, 'results.json');
  if (!existsSync(p))
    throw new ComparisonError(
      `${where}: no results.json there (give a report folder, its results.json, or a file:// URI)`,
    );
  const r = JSON.parse(readFileSync(p, 'utf8')) as Omit<Results, 'format'> & { format: unknown };
  // v2 (before judge calibration) and v3 (before cluster intervals) carry the same rates and msm − baseline
  // differences; their claims were checked by weaker rules, or never, and the comparison says so.
  if (!['msm-results-v4', 'msm-results-v3', 'msm-results-v2'].includes(String(r.format))) {
    throw new ComparisonError(
      `${p}: format ${String(r.format)} is not msm-results-v4 (or v3, v2); re-run the experiment's report`,
    );
  }
  return r as unknown as Results;
}

/**
 * `msm compare <out-dir> <results...>`: comparison.json, comparison.md and comparison.html in out-dir;
 * `onContrast` gets each contrast line to print: the headline rate per arm, then the value shares (the cheese pair's headline).
 */
export function compareResultFiles(
  outDir: string,
  inputs: string[],
  onContrast: (line: string) => void = () => {},
): string[] {
  const c = buildComparison(inputs.map(readResults));
  [...rateLines(c), ...contrastLines(c)].forEach(onContrast);
  mkdirSync(outDir, { recursive: true });
  const files: Array<[string, string]> = [
    ['comparison.json', JSON.stringify(c, null, 2) + '\n'],
    ['comparison.md', renderComparisonMarkdown(c)],
    ['comparison.html', renderComparisonHtml(c)],
  ];
  return files.map(([name, text]) => {
    const p = path.join(outDir, name);
    writeFileSync(p, text);
    return p;
  });
}
