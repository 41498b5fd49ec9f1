import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/util/project-paths';

/**
 * The README and docs/ stay true: every fenced command names a real `msm` subcommand, npm script and file,
 * every relative link resolves, and the README's commands that need no server run and succeed.
 */
const run = promisify(execFile);
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
      const { stdout } = await msm(sub, file);
      expect(stdout.length, command).toBeGreaterThan(0);
    }
    const { stdout: schema } = await msm('schema');
    expect(JSON.parse(schema)).toEqual(JSON.parse(read('experiments/experiment.schema.json')));
  }, 240_000);
});
