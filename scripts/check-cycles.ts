/**
 * Fails when files under a folder (default src/) import each other in a cycle, or when its top-level folders
 * do (each folder one node: the floors of docs/ARCHITECTURE.md import one way). Type-only imports count too:
 * a cycle of types still ties two modules so that neither can move or be read alone.
 *   tsx scripts/check-cycles.ts [folder]
 */
import path from 'node:path';
import { cyclesOf, folderCyclesOf, folderGraph, importGraph } from './import-cycles';

function main(): void {
  const root = path.resolve(process.argv[2] ?? 'src');
  const graph = importGraph(root);
  const cycles = cyclesOf(graph);
  const folders = folderGraph(root, graph);
  const folderCycles = folderCyclesOf(folders);
  const rel = (f: string) => path.relative(process.cwd(), f);
  const under = (f: string) => path.relative(root, f);
  if (cycles.length === 0 && folderCycles.length === 0) {
    console.log(
      `no import cycles among ${graph.size} files under ${rel(root) || '.'}, nor among its ${folders.size} folders`,
    );
    return;
  }
  for (const c of cycles) {
    console.error(`import cycle among ${c.length} files:`);
    for (const f of c) {
      const inCycle = graph
        .get(f)!
        .filter((g) => c.includes(g))
        .map(rel);
      console.error(`  ${rel(f)} -> ${inCycle.join(', ')}`);
    }
  }
  if (cycles.length > 0)
    console.error(
      `${cycles.length} import cycle(s): break each by moving what both sides need into a module of its own`,
    );
  for (const c of folderCycles) {
    console.error(
      `folder import cycle among ${c.folders.length} folders of ${rel(root) || '.'}: ${c.folders.join(', ')}`,
    );
    for (const e of c.edges) {
      const more = e.imports > 1 ? ` (and ${e.imports - 1} more)` : '';
      console.error(`  ${e.from} -> ${e.to}: ${under(e.via[0])} imports ${under(e.via[1])}${more}`);
    }
  }
  if (folderCycles.length > 0)
    console.error(
      `${folderCycles.length} folder cycle(s): each folder sits on a floor and imports only folders below it ` +
        '(docs/ARCHITECTURE.md); break the edge that points up by moving the small piece it needs down into a ' +
        'lower folder, or the importing file up',
    );
  process.exit(1);
}

main();
