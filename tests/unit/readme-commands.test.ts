import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { runMsmInProcess } from '../helpers/msm-cli';

/**
 * The README and docs/ stay true: every fenced command names a real `msm` subcommand, npm script and file,
 * every relative link resolves, and the README's commands that need no server run and succeed.
 */
const run = promisify(execFile);
/** bin/msm as a real process (once: the usage), the README's commands in this process (the CLI's runCli). */
const msm = (...args: string[]) =>
  run(path.join(PROJECT_ROOT, 'bin', 'msm'), args, { cwd: PROJECT_ROOT, encoding: 'utf8', maxBuffer: 16 << 20 });

const pages = ['README.md', ...readdirSync(path.join(PROJECT_ROOT, 'docs')).map((f) => `docs/${f}`)].filter((f) =>
  f.endsWith('.md'),
);
const read = (page: string) => readFileSync(path.join(PROJECT_ROOT, page), 'utf8');

/** The lines of a page's ```bash blocks, comments and prompts stripped. */
function fencedCommands(page: string): string[] {
  const blocks = [...read(page).matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]);
  return blocks
    .flatMap((b) => b.split('\n'))
    .map((line) =>
      line
        .replace(/\s+#.*$/, '')
        .replace(/^\$ /, '')
        .trim(),
    )
    .filter((line) => line && !line.startsWith('#'));
}

describe('README and docs/', () => {
  const commands = pages.flatMap((page) => fencedCommands(page).map((command) => ({ page, command })));

  it('name only msm subcommands that exist', async () => {
    const { stdout } = await msm('--help');
    const known = new Set([...stdout.matchAll(/^ {2}msm ([a-z|]+)/gm)].flatMap((m) => m[1].split('|')));
    const used = commands.flatMap(({ page, command }) =>
      [...command.matchAll(/bin\/msm ([a-z]+)/g)].map((m) => ({ page, sub: m[1] })),
    );
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((u) => !known.has(u.sub))).toEqual([]);
  });

  it('name only npm scripts and files that exist', () => {
    const scripts = Object.keys(JSON.parse(read('package.json')).scripts as Record<string, string>);
    const missing: string[] = [];
    for (const { page, command } of commands) {
      for (const m of command.matchAll(/npm run ([a-z:]+)/g))
        if (!scripts.includes(m[1])) missing.push(`${page}: ${m[0]}`);
      for (const m of command.matchAll(/(?:^|\s)((?:experiments|specs|src|scripts|docs|bench|trainer)\/[\w./-]+)/g)) {
        if (!existsSync(path.join(PROJECT_ROOT, m[1]))) missing.push(`${page}: ${m[1]}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('link only to files that exist', () => {
    const broken = pages.flatMap((page) =>
      [...read(page).matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)]
        .map((m) => m[1])
        .filter((target) => !/^[a-z]+:/.test(target))
        .filter((target) => !existsSync(path.resolve(PROJECT_ROOT, path.dirname(page), target)))
        .map((target) => `${page}: ${target}`),
    );
    expect(broken).toEqual([]);
  });

  it('name only repository paths that exist', () => {
    const repoPath = /`((?:src|trainer|scripts|tests|evals|experiments|specs|bench|deploy|docs)\/[\w./-]*)`/g;
    const missing = [...pages, 'evals/README.md'].flatMap((page) =>
      [...read(page).matchAll(repoPath)]
        .map((m) => m[1].replace(/\/$/, ''))
        .filter((p) => !existsSync(path.join(PROJECT_ROOT, p)))
        .map((p) => `${page}: ${p}`),
    );
    expect(missing).toEqual([]);
  });

  it("runs the README's commands that need no server", async () => {
    const readme = fencedCommands('README.md');
    const offline = readme.filter((c) => /^bin\/msm (validate|plan) /.test(c));
    expect(offline.length).toBeGreaterThanOrEqual(2);
    for (const command of offline) {
      const [, sub, file] = command.split(/\s+/);
      const r = await runMsmInProcess([sub, file]);
      expect(r.status, `${command}: ${r.stderr}`).toBe(0);
      expect(r.stdout.length, command).toBeGreaterThan(0);
    }
    const schema = await runMsmInProcess(['schema']);
    expect(schema.status, schema.stderr).toBe(0);
    expect(JSON.parse(schema.stdout)).toEqual(JSON.parse(read('experiments/experiment.schema.json')));
  }, 240_000);
});

/** Every source file under a folder (recursively), by repo-relative path. */
function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(PROJECT_ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return ['__pycache__', 'node_modules'].includes(entry.name) ? [] : sourceFiles(rel);
    return /\.(ts|mts|mjs|py|sh)$/.test(entry.name) ? [rel] : [];
  });
}

// Paths named on purpose that do not exist (a test input that must be missing), by the file that names them.
const MEANT_TO_BE_MISSING: Record<string, string[]> = {
  'scripts/record-sweep-history.ts': ['specs/missing.md'], // a sweep point whose spec is missing, on purpose
};

describe('comments and messages in src/, scripts/ and trainer/', () => {
  it('name only repository files that exist', () => {
    // A repo-relative file path with a known extension, not inside a URL or a longer path.
    const repoFile =
      /(?<![\w./-])((?:src|trainer|scripts|tests|docs|bench|deploy|experiments|specs|evals)\/[\w./-]*\.(?:ts|mts|mjs|py|md|sh|json|jsonl|ya?ml|toml|txt))(?![\w/-])/g;
    const exists = (p: string) =>
      existsSync(path.join(PROJECT_ROOT, p)) && statSync(path.join(PROJECT_ROOT, p)).isFile();
    const files = ['src', 'scripts', 'trainer'].flatMap(sourceFiles);
    expect(files.length).toBeGreaterThan(100);
    const missing = files.flatMap((file) =>
      [...readFileSync(path.join(PROJECT_ROOT, file), 'utf8').matchAll(repoFile)]
        .map((m) => m[1].replace(/\.$/, ''))
        // The trainer's own files may name paths relative to trainer/ (its tests run from there).
        .filter((p) => !exists(p) && !(file.startsWith('trainer/') && exists(`trainer/${p}`)))
        .filter((p) => !MEANT_TO_BE_MISSING[file]?.includes(p))
        .map((p) => `${file}: ${p}`),
    );
    expect(missing).toEqual([]);
  });
});
