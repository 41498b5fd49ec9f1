import type { Experiment } from './experiment-schema';

/**
 * Where the arms' AFT data comes from, said beside the arms by msm validate and msm plan: a file, or
 * generated from a spec (aft.generate.spec, else the experiment's own). `aftSpecTitle`: that spec's title,
 * when it was read.
 */
export function aftDataSource(x: Experiment, aftSpecTitle?: string): string {
  const a = x.aft;
  if (!a.generate) return `the file ${a.data}`;
  const g = a.generate;
  const title = aftSpecTitle ? ` ("${aftSpecTitle}")` : '';
  const from = g.spec
    ? `aft.generate.spec ${g.spec}${title}, not the midtraining spec ${x.spec}`
    : `the experiment's spec ${x.spec}${title} (variant ${x.specVariant})`;
  return `generated from ${from}: ${g.count} examples, ${g.style} style`;
}
