/**
 * Fails when files under a folder (default src/) import each other in a cycle. Type-only imports count
 * too: a cycle of types still ties two modules so that neither can move or be read alone.
 *   tsx scripts/check-cycles.ts [folder]
 */
import path from 'node:path';
import { cyclesOf, importGraph } from './import-cycles';

function main(): void {
  const root = path.resolve(process.argv[2] ?? 'src');
  const graph = importGraph(root);
  const cycles = cyclesOf(graph);
  const rel = (f: string) => path.relative(process.cwd(), f);
  if (cycles.length === 0) {
    console.log(`no import cycles among ${graph.size} files under ${rel(root) || '.'}`);
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
  console.error(`${cycles.length} import cycle(s): break each by moving what both sides need into a module of its own`);
  process.exit(1);
}

main();
