import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * An on-disk cache of bundled workflow code, when MSM_WORKFLOW_BUNDLE_CACHE names a folder: bundling takes
 * seconds, and a test suite starts dozens of workers (each a new process) on the same code. The key hashes
 * every TypeScript file the bundle can reach (all of src/, the entry's own folder) and the workflow SDK's
 * version, so any change to the code makes a new bundle. Off by default: a deployed worker bundles once.
 */
export async function cachedBundleCode(workflowsPath: string, bundle: () => Promise<string>): Promise<string> {
  const dir = process.env.MSM_WORKFLOW_BUNDLE_CACHE;
  if (!dir) return bundle();
  const file = path.join(dir, `${bundleKey(workflowsPath)}.js`);
  if (existsSync(file)) return readFileSync(file, 'utf8');
  const code = await bundle();
  mkdirSync(dir, { recursive: true });
  // Another process may bundle the same code at once: write aside, then rename (atomic on one file system).
  const partial = `${file}.${process.pid}.partial`;
  writeFileSync(partial, code);
  renameSync(partial, file);
  pruneOldest(dir, KEEP);
  return code;
}

/** Bundles kept: each is a few MB, and every edit of src/ makes a new one. */
const KEEP = 8;

function pruneOldest(dir: string, keep: number): void {
  const bundles = readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .map((f) => ({ file: path.join(dir, f), at: statSync(path.join(dir, f)).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const { file } of bundles.slice(keep)) rmSync(file, { force: true });
}

const SRC = path.join(__dirname, '..');

function bundleKey(workflowsPath: string): string {
  const hash = createHash('sha256').update(path.resolve(workflowsPath)).update(sdkVersion());
  const folders = new Set([SRC, path.dirname(path.resolve(workflowsPath))]);
  for (const folder of folders) for (const file of tsFiles(folder)) hash.update(file).update(readFileSync(file));
  return hash.digest('hex').slice(0, 32);
}

function tsFiles(folder: string): string[] {
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.split(path.sep).includes('node_modules'))
    .sort()
    .map((f) => path.join(folder, f));
}

function sdkVersion(): string {
  const pkg = require.resolve('@temporalio/workflow/package.json');
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}
