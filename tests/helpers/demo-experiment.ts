/**
 * The smallest valid experiment, on the demo's spec, AFT data and eval prompts: the object config tests
 * spread their variations over. `store` is left out when a test never writes to one.
 */
export function demoExperiment(name: string, store?: string) {
  return {
    name,
    spec: 'specs/demo.md',
    ...(store !== undefined && { store }),
    // Toy data (24 examples, 3 optimizer steps at the default batch): aft.minSteps lowered on purpose.
    aft: { data: 'experiments/data/demo-aft.jsonl', minSteps: 1 },
    eval: { prompts: 'experiments/data/demo-eval.jsonl' },
  };
}
