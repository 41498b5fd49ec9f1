import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cyclesOf, folderCyclesOf, folderGraph, importGraph } from '../../scripts/import-cycles';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'msm-cycles-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), text);
  }
  return root;
}

describe('import cycles', () => {
  it('finds a cycle through a type-only import and a folder index, and names its files', () => {
    const root = tree({
      'a.ts': "import { b } from './b';\nexport const a = b;",
      'b.ts': "import type { C } from './c';\nexport const b = 1 as unknown as C;",
      'c/index.ts': "import { a } from '../a';\nexport type C = typeof a;",
      'd.ts': "import { a } from './a';\nimport { z } from 'zod';\nexport const d = [a, z];",
    });
    const cycles = cyclesOf(importGraph(root));
    expect(cycles.map((c) => c.map((f) => path.relative(root, f)))).toEqual([
      ['a.ts', 'b.ts', path.join('c', 'index.ts')],
    ]);
  });

  it('finds none in an acyclic tree, and a file importing itself is one', () => {
    expect(cyclesOf(importGraph(tree({ 'a.ts': "import './b';", 'b.ts': 'export {};' })))).toEqual([]);
    expect(cyclesOf(new Map([['x', ['x']]]))).toEqual([['x']]);
  });

  it('src/ has no import cycles', () => {
    expect(cyclesOf(importGraph(path.join(__dirname, '..', '..', 'src')))).toEqual([]);
  });

  it('finds a folder cycle where no files form one, and names one import per edge', () => {
    const root = tree({
      'a/x.ts': "import { y } from '../b/y';\nexport const x = y;",
      'a/w.ts': 'export const w = 1;',
      'b/y.ts': 'export const y = 1;',
      'b/z.ts': "import { w } from '../a/w';\nexport const z = w;",
      'c/v.ts': "import { x } from '../a/x';\nexport const v = x;",
    });
    const graph = importGraph(root);
    expect(cyclesOf(graph)).toEqual([]);
    const cycles = folderCyclesOf(folderGraph(root, graph));
    const rel = (f: string) => path.relative(root, f);
    expect(cycles.map((c) => c.folders)).toEqual([['a', 'b']]);
    expect(cycles[0].edges.map((e) => [e.from, e.to, rel(e.via[0]), rel(e.via[1]), e.imports])).toEqual([
      ['a', 'b', path.join('a', 'x.ts'), path.join('b', 'y.ts'), 1],
      ['b', 'a', path.join('b', 'z.ts'), path.join('a', 'w.ts'), 1],
    ]);
  });

  it('src/ has no folder cycles: its top-level folders import one way (docs/ARCHITECTURE.md)', () => {
    const src = path.join(__dirname, '..', '..', 'src');
    const cycles = folderCyclesOf(folderGraph(src));
    expect(cycles.map((c) => [c.folders, c.edges.map((e) => `${e.from} -> ${e.to}`)])).toEqual([]);
  });

  it('stage modules and services never import the activity adapters (only workers and activity proxies do)', () => {
    const src = path.join(__dirname, '..', '..', 'src');
    const activities = path.join(src, 'activities') + path.sep;
    const mayImport = (f: string) =>
      f.startsWith(activities) ||
      f.startsWith(path.join(src, 'workers') + path.sep) ||
      f === path.join(src, 'workflows', 'activity-proxies.ts');
    const offenders = [...importGraph(src)].flatMap(([file, deps]) =>
      mayImport(file) ? [] : deps.filter((d) => d.startsWith(activities)).map((d) => `${file} -> ${d}`),
    );
    expect(offenders.map((o) => o.split(src + path.sep).join(''))).toEqual([]);
  });
});
