// The workflow bundle's entry point: every workflow type the `msm` task queue serves.
export { msmExperiment } from './experiment';
export { msmSweep } from './sweep';
export { corpusGeneration } from './corpus';
export { aftDataGeneration } from './aft-data';
export { trainingRun } from './training';
export { evaluationRun } from './evaluation';
export { humanLabelsImport, reportRun } from './report';
export { msmReaper } from './reaper';
export * from './definitions';
