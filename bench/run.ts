/**
 * `npm run bench -- <name> [options]`: each benchmark prints its figures and ends with one JSON line.
 * Results, with the machine and the date, go in BENCHMARKS.md.
 */
const BENCHES: Record<string, () => Promise<{ main(args: string[]): Promise<void> }>> = {
  tokenize: () => import('./tokenize.js'),
  generation: () => import('./generation.js'),
  train: () => import('./train.js'),
  sample: () => import('./sample.js'),
  judge: () => import('./judge.js'),
  'aft-padding': () => import('./aft-padding.js'),
  'plan-vs-actual': () => import('./plan-vs-actual.js'),
  'cpu-step': () => import('./cpu-step.js'),
  demo: () => import('./demo.js'),
};

async function main() {
  const [name, ...args] = process.argv.slice(2);
  const load = name ? BENCHES[name] : undefined;
  if (!load) {
    console.error(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [options]`);
    process.exit(2);
  }
  await (await load()).main(args);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
