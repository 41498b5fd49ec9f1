import { setWorkflowOptions } from '@temporalio/workflow';
import type { VersioningBehavior } from '@temporalio/common';
import { aftDataGeneration } from './aft-data';
import { corpusGeneration } from './corpus';
import { evaluationRun } from './evaluation';
import { msmExperiment } from './experiment';
import { humanLabelsImport, reportRun } from './report';
import { msmReaper } from './reaper';
import { msmSweep } from './sweep';
import { trainingRun } from './training';

// The workflow bundle's entry point for versioned workers: every type of ./index, each declaring its Worker
// Versioning behaviour. Unversioned workers bundle ./index alone: the server refuses a behaviour from them.
export * from './index';

/**
 * How each workflow type meets a new worker version (see docs/deploying.md),
 * following Temporal's guidance: PINNED for runs shorter than a roll-out, AUTO_UPGRADE for runs that can
 * outlive several. An AUTO_UPGRADE workflow moves to the new current version at its next workflow task, so
 * every change to its code must keep old histories replaying: guard it with patched() (tests/workflows/replay.test.ts
 * replays recorded histories), and retire the patch (deprecatePatch, then removal) only once no open run or
 * recorded history needs its old path. A PINNED one finishes on the build it started on, so its old workers
 * must keep running until it drains.
 */
export const VERSIONING_BEHAVIOR = {
  // Days to weeks: a sweep of experiments, an experiment of several training runs.
  msmSweep: 'AUTO_UPGRADE',
  msmExperiment: 'AUTO_UPGRADE',
  // Can wait on a person for days (preview approval, pause/resume), so cannot hold an old build.
  corpusGeneration: 'AUTO_UPGRADE',
  aftDataGeneration: 'AUTO_UPGRADE',
  // GPU jobs run for days: pinned, stopping the old build would strand the run; auto-upgraded, the activity
  // retries on the new build and re-attaches to the live job or resumes from its checkpoint.
  trainingRun: 'AUTO_UPGRADE',
  // Short straight lines (sample then judge; calibrate then write): done on the code they started with.
  evaluationRun: 'PINNED',
  reportRun: 'PINNED',
  // One activity: a person's labels joined to a run's calibration, the report written again.
  humanLabelsImport: 'PINNED',
  // One pass over the machines, minutes at most.
  msmReaper: 'PINNED',
} as const satisfies Record<string, VersioningBehavior>;

const behaviour = (type: keyof typeof VERSIONING_BEHAVIOR) => ({ versioningBehavior: VERSIONING_BEHAVIOR[type] });
setWorkflowOptions(behaviour('msmSweep'), msmSweep);
setWorkflowOptions(behaviour('msmExperiment'), msmExperiment);
setWorkflowOptions(behaviour('corpusGeneration'), corpusGeneration);
setWorkflowOptions(behaviour('aftDataGeneration'), aftDataGeneration);
setWorkflowOptions(behaviour('trainingRun'), trainingRun);
setWorkflowOptions(behaviour('evaluationRun'), evaluationRun);
setWorkflowOptions(behaviour('reportRun'), reportRun);
setWorkflowOptions(behaviour('humanLabelsImport'), humanLabelsImport);
setWorkflowOptions(behaviour('msmReaper'), msmReaper);
