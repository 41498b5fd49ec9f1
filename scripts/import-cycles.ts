/** Import cycles among the TypeScript files of a folder (used by scripts/check-cycles.ts). */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** The files under the folder that `file` imports (relative imports only: packages cannot close a cycle here). */
export function importsOf(file: string, known: Set<string>): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  const out: string[] = [];
  for (const { fileName } of importedFiles) {
    if (!fileName.startsWith('.')) continue;
    const base = path.resolve(path.dirname(file), fileName.replace(/\.js$/, ''));
    const hit = [`${base}.ts`, path.join(base, 'index.ts')].find((c) => known.has(c));
    if (hit) out.push(hit);
  }
  return out;
}

/** Strongly connected components of more than one file, or of one file importing itself (Tarjan). */
export function cyclesOf(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

/** The folder's files, each with the files of the folder it imports. */
export function importGraph(root: string): Map<string, string[]> {
  const files = tsFiles(root);
  const known = new Set(files);
  return new Map(files.map((f) => [f, importsOf(f, known)]));
}

/** The top-level folder of `file` under `root` (a file directly under root is a node of its own, named without .ts). */
export function folderOf(root: string, file: string): string {
  return path.relative(root, file).split(path.sep)[0].replace(/\.ts$/, '');
}

/**
 * The folder-level graph: each top-level folder under root is one node, with an edge to every other folder one
 * of its files imports, and for each edge the file imports that make it.
 */
export function folderGraph(
  root: string,
  graph: Map<string, string[]> = importGraph(root),
): Map<string, Map<string, Array<[string, string]>>> {
  const out = new Map<string, Map<string, Array<[string, string]>>>();
  for (const [file, deps] of graph) {
    const from = folderOf(root, file);
    if (!out.has(from)) out.set(from, new Map());
    for (const dep of deps) {
      const to = folderOf(root, dep);
      if (to === from) continue;
      const edges = out.get(from)!;
      if (!edges.has(to)) edges.set(to, []);
      edges.get(to)!.push([file, dep]);
    }
  }
  return out;
}

export interface FolderCycle {
  folders: string[];
  /** Each folder-to-folder edge inside the cycle, with one file import that makes it and how many do. */
  edges: Array<{ from: string; to: string; via: [string, string]; imports: number }>;
}

/** Cycles among the top-level folders under root (type-only imports count, as for files). */
export function folderCyclesOf(folders: Map<string, Map<string, Array<[string, string]>>>): FolderCycle[] {
  const adjacency = new Map([...folders].map(([f, edges]) => [f, [...edges.keys()]]));
  return cyclesOf(adjacency).map((scc) => ({
    folders: scc,
    edges: scc.flatMap((from) =>
      [...(folders.get(from) ?? [])]
        .filter(([to]) => scc.includes(to))
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([to, via]) => ({ from, to, via: via[0], imports: via.length })),
    ),
  }));
}
