import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

// Test lanes are folders (docs/testing.md):
//   tests/unit/         pure: no Temporal server, worker, trainer, sshd, S3, local model or browser (npm run test:fast)
//   tests/workflows/    msm's real workflow code on a real dev server with stubbed activities, and history replay
//   tests/integration/  one real part at a time: a backend over real sshd, the store on real S3, the trainer, a browser
//   tests/e2e/          whole experiments and sweeps through real workers, kills and restarts: what nothing smaller proves
//   tests/cluster/      the real-cluster lane (npm run test:cluster)
// A file's folder decides its lane. What a file imports decides whether it may be in tests/unit: a file there
// must not load a helper that starts a server, a worker, a trainer or a browser, or call a function that starts a
// program (read from its import statements, not from words anywhere in its text). tests/unit/fast-lane.test.ts
// holds both rules.

export const LANES = ['unit', 'workflows', 'integration', 'e2e'] as const;
export type Lane = (typeof LANES)[number];

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

/** The vitest files of one lane (its folder), repo-relative and sorted. */
export function laneFiles(root: string, lane: Lane): string[] {
  const dir = path.join(root, 'tests', lane);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => `tests/${lane}/${f}`);
}

/** Every vitest file in a lane folder with the reason it is slow, or undefined when it starts nothing. */
export function lanes(root: string): Map<string, string | undefined> {
  const files = LANES.flatMap((lane) => laneFiles(root, lane));
  return new Map(files.map((f) => [f, slowReason(root, f)]));
}

/** Test files directly under tests/, outside every lane folder: vitest would run them, but no lane declares them. */
export function filesOutsideLanes(root: string): string[] {
  return readdirSync(path.join(root, 'tests'))
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => `tests/${f}`);
}
