import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

// Which lane a test file belongs to, decided by what it imports (read from its import statements, not by
// matching words anywhere in its text): a file is slow when it loads a helper that starts a server, a
// worker, a trainer or a browser, or imports a function that starts a program. Everything else runs in
// the fast lane (`npm run test:fast`). tests/fast-lane.test.ts checks this list stays true.

/** Helpers (tests/helpers/<name>.ts) whose use starts a Temporal server, workers, sshd, S3, a trainer or a browser. */
export const SLOW_HELPERS: Record<string, string> = {
  'in-process-workers': 'runs Temporal workers against a dev server',
  'scripted-temporal': 'starts a Temporal dev server',
  'temporal-server': 'starts a Temporal dev server',
  'temporal-cluster': 'starts a Temporal cluster',
  'worker-process': 'starts a worker process',
  sshd: 'starts sshd',
  slurm: 'starts a Slurm cluster (munged, slurmctld, slurmd)',
  seaweedfs: 'starts an S3 server',
  'tiny-trainer-job': 'its tiny model and data are for running the real trainer',
  'report-in-browser': 'opens a report in Chromium',
  chromium: 'starts Chromium',
  'tls-proxy': 'starts a TLS proxy in front of a server',
  'stubbed-workflows': 'starts a Temporal dev server with stubbed activities',
};

/** Functions from src/ that start a program when a test calls them: module (from the repo root) → names. */
export const SLOW_IMPORTS: Record<string, Record<string, string>> = {
  'src/util/project-paths': { pythonExecutable: "runs the trainer's Python" },
  'src/llm/local-model-path': { ensureLocalModel: 'loads the local GGUF model' },
  'src/compute/local': { createLocalBackend: 'runs trainer jobs as local processes' },
  'src/compute/shell': { localShell: 'runs job processes through a shell' },
};

interface ImportStatement {
  /** Repo-relative module path without extension, e.g. `tests/helpers/sshd` or `src/compute/local`. */
  module: string;
  /** The names it binds; empty for a side-effect import, `*` for a namespace or default import. */
  names: string[];
}

const STATIC_IMPORT = /^\s*(?:import|export)\s+(?!type\b)([\w*{}\s,$]*?)\s*from\s+['"]([^'"]+)['"]/gm;
const SIDE_EFFECT_IMPORT = /^\s*import\s+['"]([^'"]+)['"]/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

function boundNames(clause: string): string[] {
  const braces = clause.match(/\{([^}]*)\}/);
  const named = (braces?.[1] ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n && !n.startsWith('type '))
    .map((n) => n.split(/\s+as\s+/)[0]!);
  const outside = clause
    .replace(/\{[^}]*\}/, '')
    .replace(/,/g, ' ')
    .trim();
  return outside ? [...named, '*'] : named;
}

/** The relative imports of a file, resolved to repo-relative paths; packages and type-only imports left out. */
export function importsOf(root: string, file: string): ImportStatement[] {
  const source = readFileSync(path.join(root, file), 'utf8');
  const found: ImportStatement[] = [];
  const add = (spec: string, names: string[]) => {
    if (!spec.startsWith('.')) return;
    const resolved = path
      .relative(root, path.resolve(root, path.dirname(file), spec))
      .split(path.sep)
      .join('/');
    found.push({ module: resolved.replace(/\.(ts|mts|js)$/, ''), names });
  };
  for (const m of source.matchAll(STATIC_IMPORT)) add(m[2]!, boundNames(m[1]!));
  for (const m of source.matchAll(SIDE_EFFECT_IMPORT)) add(m[1]!, []);
  for (const m of source.matchAll(DYNAMIC_IMPORT)) add(m[1]!, ['*']);
  return found;
}

/** Why a test file is slow (the chain of imports that starts something), or undefined when it is fast. */
export function slowReason(root: string, file: string, seen = new Set<string>()): string | undefined {
  seen.add(file);
  for (const { module, names } of importsOf(root, file)) {
    const helper = module.match(/^tests\/helpers\/([\w-]+)$/)?.[1];
    if (helper && SLOW_HELPERS[helper]) return `imports tests/helpers/${helper} (${SLOW_HELPERS[helper]})`;
    const slowNames = SLOW_IMPORTS[module] ?? {};
    const slowName = names.find((n) => (n === '*' ? Object.keys(slowNames).length > 0 : slowNames[n]));
    if (slowName) return `imports ${slowName} from ${module} (${slowNames[slowName] ?? 'all of it'})`;
    // A helper that imports a slow helper is slow too.
    const helperFile = `${module}.ts`;
    if (helper && !seen.has(helperFile) && existsSync(path.join(root, helperFile))) {
      const through = slowReason(root, helperFile, seen);
      if (through) return `imports tests/helpers/${helper}, which ${through}`;
    }
  }
  return undefined;
}

/** Every vitest file directly under tests/ with its lane: the reason it is slow, or undefined for fast. */
export function lanes(root: string): Map<string, string | undefined> {
  const files = readdirSync(path.join(root, 'tests'))
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => `tests/${f}`);
  return new Map(files.map((f) => [f, slowReason(root, f)]));
}

/** The fast lane's files. */
export function fastFiles(root: string): string[] {
  return [...lanes(root)].filter(([, reason]) => reason === undefined).map(([f]) => f);
}
