import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { reapLeakedMachines, type ReaperTarget, type ReapOutcome } from '../compute/reaper';
import {
  ComputeCapacityError,
  ComputeConfigError,
  type ComputeBackend,
  type JobStatus,
  type MachineHandle,
} from '../compute/backend';
import { LedgerFile } from '../compute/ledger';
import { backendPicker } from '../compute/from-config';
import { evalKeyOf, sampleManifest } from '../eval/sampling';
import { sampleOnEngine } from '../eval/engine/sample-on-engine';
import { InspectGraderError, inspectEvalKeyOf, inspectManifest } from '../eval/inspect/manifest';
import { storeInspectResults } from '../eval/inspect/store-results';
import {
  inspectCalibrationKeyOf,
  inspectCalibrationManifest,
  inspectCalibrationScenarios,
  inspectVerdictSchema,
  loadInspectCalibrationSet,
  tallyInspectCalibration,
  type InspectCalibrationSet,
} from '../eval/inspect/grader-calibration';
import { CalibrationSetError, type JudgeCalibrationResult } from '../eval/judge-calibration';
import type { ProviderSettings } from '../config/experiment-schema';
import { capabilitiesKeyOf, capabilitiesManifest } from '../eval/capabilities/manifest';
import { storedCapabilityScores } from '../eval/capabilities/store-results';
import type { CapabilityRequest, CapabilityResult } from '../eval/capabilities/types';
import { JsonlError, parseEvalSet, parseJsonl } from '../eval/eval-set';
import type { EvalSummary } from '../eval/types';
import { providerId } from '../llm/call';
import type { ArtifactStore } from '../store/artifact-store';
import { readJson } from '../store/json';
import { openStore } from '../store/open-store';
import type { TrainerEvent, TrainerJobManifest } from '../training/job';
import { TRAINER_EXIT_BAD_INPUT, TRAINER_EXIT_LOCKED } from '../training/job';
import { DEFAULT_MAX_RESTARTS, RestartFile, restartsExhausted } from '../training/restarts';
import { jobIdFor, runKeyOf, trainManifest, trainResult } from '../training/run-request';
import { pythonExecutable, STATE_DIR } from '../util/project-paths';
import { badInput, transient } from '../temporal/failures';
import type { EvalRequest, SamplesRef, TrainRequest, TrainResult } from './types';

const POLL_MS = 1000;

export interface TrainerActivityDeps {
  /** Override for tests; default: the backend named by each request's `experiment.compute`. */
  backend?: ComputeBackend;
  /** Local job folders and the project's SSH known_hosts; default .msm/. */
  stateDir?: string;
  /** How often a running job is polled; default 1 s (tests over a scripted backend poll faster). */
  pollMs?: number;
}

type JobOutcome = Extract<TrainerEvent, { event: 'done' }>;

const LEDGER_SAVE_MS = 60_000;
/** A trainer killed by a signal (exit 128+n) lost its machine's work the same way a lost process did. */
const KILLED_BY_SIGNAL = 128;

/** The job's cost meter and preemption record, beside its outputs (see src/compute/ledger.ts). */
const ledgerKey = (jobKey: string) => `${jobKey}/compute/ledger.json`;

/** What a job's events said so far: progress for heartbeats, its last error, and its outcome once done. */
interface SeenEvents {
  progress: Record<string, unknown>;
  lastError?: string;
  done?: JobOutcome;
  /** The newest complete checkpoint the job reported (written, or resumed from); -1 before any. */
  checkpointStep: number;
}

/** Fold a poll's events into what was seen; true when one of them was a new checkpoint. */
function foldEvents(events: TrainerEvent[], seen: SeenEvents): boolean {
  let checkpointSeen = false;
  for (const ev of events) {
    if (ev.event === 'progress')
      seen.progress = { ...seen.progress, step: ev.step, totalSteps: ev.totalSteps, loss: ev.loss };
    else if (ev.event === 'resumed') {
      seen.progress = { ...seen.progress, resumedFrom: ev.step };
      seen.checkpointStep = Math.max(seen.checkpointStep, ev.step);
    } else if (ev.event === 'checkpoint') {
      seen.progress = { ...seen.progress, checkpoint: ev.uri };
      seen.checkpointStep = Math.max(seen.checkpointStep, ev.step);
      checkpointSeen = true;
    } else if (ev.event === 'error') seen.lastError = ev.message;
    else if (ev.event === 'done') seen.done = ev;
  }
  return checkpointSeen;
}

/** Provision a machine for the job, heartbeating meanwhile (renting one takes minutes); config and capacity errors classified. */
async function provisionFor(
  backend: ComputeBackend,
  manifest: TrainerJobManifest,
  beat: (extra: Record<string, unknown>) => void,
): Promise<MachineHandle> {
  const jobId = manifest.jobId;
  const beating = setInterval(() => beat({ provisioning: true }), 5000);
  try {
    return await backend.provision(jobId, manifest);
  } catch (e) {
    if (e instanceof ComputeConfigError) throw badInput(`trainer job ${jobId}: ${e.message}`, e);
    if (e instanceof ComputeCapacityError) throw transient(`trainer job ${jobId}: ${e.message}`, e.retryAfterMs, e);
    throw e;
  } finally {
    clearInterval(beating);
  }
}

/** How a job's failures and silences are bounded (compute.maxRestarts, compute.lostGraceSec). */
export interface JobLimits {
  maxRestarts: number;
  lostGraceMs: number;
  /** Between polls of a running job; default POLL_MS. */
  pollMs?: number;
}

export const DEFAULT_LOST_GRACE_SEC = 120;

/** The limits of a request's compute block; absent fields (requests from before they existed) get the defaults. */
export function jobLimitsOf(compute: { maxRestarts?: number; lostGraceSec?: number }): JobLimits {
  return {
    maxRestarts: compute.maxRestarts ?? DEFAULT_MAX_RESTARTS,
    lostGraceMs: (compute.lostGraceSec ?? DEFAULT_LOST_GRACE_SEC) * 1000,
  };
}

/** Where a job's durable records live: its cost meter and its failure count, both in the artifact store. */
export interface JobRecords {
  ledger: LedgerFile;
  restarts: RestartFile;
}

async function recordsOf(store: ArtifactStore, jobKey: string): Promise<JobRecords> {
  return { ledger: await LedgerFile.load(store, ledgerKey(jobKey)), restarts: RestartFile.forJob(store, jobKey) };
}

/**
 * Whether this attempt's cancellation leaves the job running: a worker shutting down, a heartbeat timeout
 * (the server gave up on this attempt), a pause or a reset all end only this attempt, and the next one
 * re-attaches. Only a cancellation of the run itself (the workflow cancelled its activity) stops the job.
 */
export function detachesOnCancel(ctx: Context): boolean {
  if (!ctx.cancellationSignal.aborted) return false;
  const details = ctx.cancellationDetails;
  const reason = (ctx.cancellationSignal.reason as { message?: unknown } | undefined)?.message;
  const runCancelled = details ? details.cancelRequested : reason === 'CANCELLED';
  return !runCancelled;
}

/** The trainer command could not start (sh: 126 not executable, 127 not found): retrying cannot help. */
const COMMAND_WOULD_NOT_START = new Set([126, 127]);

/** The last lines of the job's stderr: the error a person reads when the trainer said nothing itself. */
const stderrTail = (st: JobStatus) => st.stderrTail?.trim().split('\n').slice(-5).join('\n');

/**
 * The failure of a job that exited on its own (not killed): bad input or a command that would not start
 * fail the run at once; any other error is retried up to compute.maxRestarts times while no new checkpoint
 * appears between failures, then fails the run with the job's own error.
 */
async function exitFailure(
  st: JobStatus,
  seen: SeenEvents,
  jobId: string,
  records: JobRecords,
  limits: JobLimits,
): Promise<ApplicationFailure> {
  const why = seen.lastError ?? stderrTail(st) ?? 'no message';
  if (st.exitCode === TRAINER_EXIT_BAD_INPUT) return badInput(`trainer job ${jobId} rejected its input: ${why}`);
  if (COMMAND_WOULD_NOT_START.has(st.exitCode ?? -1))
    return badInput(
      `trainer job ${jobId} could not start the trainer (exit ${st.exitCode}): ${stderrTail(st) ?? why}; check compute.python (ssh, runpod: its image) and that the trainer's requirements are installed there`,
    );
  // The job's own lock still held (a previous attempt's trainer is still exiting): wait, it is no failure.
  if (st.exitCode === TRAINER_EXIT_LOCKED) return transient(`trainer job ${jobId} is still locked: ${why}`, 10_000);
  const runId = Context.current().info.workflowExecution?.runId ?? 'none';
  const rec = await records.restarts.failed(runId, seen.checkpointStep, why);
  const count = `failure ${rec.failures} without a new checkpoint, of at most ${limits.maxRestarts + 1}`;
  if (restartsExhausted(rec, limits.maxRestarts))
    return ApplicationFailure.create({
      type: 'TrainerJobFailed',
      nonRetryable: true,
      message: `trainer job ${jobId} failed ${rec.failures} times in a row with no new checkpoint (compute.maxRestarts ${limits.maxRestarts}); its error: ${why}`,
    });
  return transient(`trainer job ${jobId} exited with code ${st.exitCode} (${count}): ${why}`);
}

/** Poll once; a poll that throws (a provider's 5xx, a refused connection) is an unreachable machine, not an end. */
async function pollOnce(backend: ComputeBackend, machine: MachineHandle, jobId: string, cursor: number) {
  try {
    return await backend.poll(machine, jobId, cursor);
  } catch (e) {
    const status: JobStatus = {
      state: 'unreachable',
      events: [],
      nextCursor: cursor,
      lostReason: (e as Error).message,
    };
    return status;
  }
}

/**
 * Provision, launch (or re-attach to) a trainer job, stream its events as heartbeats until it ends, and
 * release the machine. Exit 2 fails the run (bad input); a job that keeps failing without progress fails
 * it after compute.maxRestarts restarts; a lost process or machine or a silent job is a preemption,
 * retried without limit, and the trainer resumes from its newest complete checkpoint. A machine that
 * does not answer is waited for (compute.lostGraceSec) before it counts as lost. A worker's shutdown or a
 * heartbeat timeout detaches: the job keeps running, the machine stays, the next attempt re-attaches.
 * Every machine is metered in the ledger from provision to release, and each loss is recorded with the
 * work it cost.
 */
async function runJob(
  backend: ComputeBackend,
  manifest: TrainerJobManifest,
  records: JobRecords,
  limits: JobLimits,
): Promise<JobOutcome> {
  const ctx = Context.current();
  const { ledger } = records;
  const beat = (extra: Record<string, unknown> = {}) =>
    ctx.heartbeat({ job: manifest.jobId, compute: ledger.usage(), ...extra });
  // Recorded before anything is rented, so the reaper can trace any machine of this job to its workflow.
  const workflowId = ctx.info.workflowExecution?.workflowId;
  if (workflowId) await ledger.owned({ jobId: manifest.jobId, workflowId });
  const provisionStart = new Date();
  const machine = await provisionFor(backend, manifest, beat);
  // Where the job stands when this attempt ends: still running (stop it), over, or left to the next attempt.
  let ending: 'running' | 'over' | 'detached' = 'running';
  let ok = false;
  try {
    await ledger.opened(machine, provisionStart);
    const launch = await backend.launch(machine, manifest);
    await ledger.launched(launch?.attached ?? false);
    // The stall clock starts at the first event: loading a large model may take long before it.
    let lastEventAt: number | undefined;
    let lastSaved = Date.now();
    let cursor = 0;
    /** Since when the machine has not answered (undefined: it answers). */
    let unreachableSince: number | undefined;
    // Outside the loop: `done` may arrive in the poll before the one that sees the process exit.
    const seen: SeenEvents = { progress: {}, checkpointStep: -1 };
    const lose = async (why: string) => {
      ending = 'over';
      await ledger.lost(why).catch(() => undefined);
      return transient(
        `trainer job ${manifest.jobId} was lost (${why}): preemption, resuming from the newest checkpoint`,
      );
    };
    for (;;) {
      const st = await pollOnce(backend, machine, manifest.jobId, cursor);
      cursor = st.nextCursor;
      if (st.events.length) lastEventAt = Date.now();
      const checkpointSeen = foldEvents(st.events, seen);
      // Bookkeeping never stops training: a failed ledger write is retried at the next occasion.
      if (checkpointSeen) {
        lastSaved = Date.now();
        await ledger.checkpointed().catch(() => undefined);
      } else if (Date.now() - lastSaved >= LEDGER_SAVE_MS) {
        lastSaved = Date.now();
        await ledger.seen().catch(() => undefined);
      }
      if (st.state === 'unreachable') {
        unreachableSince ??= Date.now();
        const silentMs = Date.now() - unreachableSince;
        // Past the grace period without an answer: the machine counts as lost (rented backends asked the
        // provider at each poll, which says "gone" at once when it knows).
        if (silentMs > limits.lostGraceMs)
          throw await lose(`no answer for ${Math.round(silentMs / 1000)} s: ${st.lostReason ?? 'unreachable'}`);
        beat({ ...seen.progress, unreachableSec: Math.round(silentMs / 1000), unreachable: st.lostReason });
        await ctx.sleep(limits.pollMs ?? POLL_MS);
        continue;
      }
      unreachableSince = undefined;
      beat(seen.progress);
      if (st.state === 'exited') {
        ending = 'over';
        // `done` comes after the final output is stored, so an exit code after it (a rank that died in its
        // own shutdown) lost no work: a retry would only find the job done.
        if (seen.done) {
          if (st.exitCode !== 0)
            ctx.log.warn('trainer job exited with a non-zero code after done; its output is complete', {
              job: manifest.jobId,
              exitCode: st.exitCode,
            });
          ok = true;
          return seen.done;
        }
        if ((st.exitCode ?? 0) >= KILLED_BY_SIGNAL) throw await lose(`the trainer was killed (exit ${st.exitCode})`);
        throw await exitFailure(st, seen, manifest.jobId, records, limits);
      }
      if (st.state === 'lost') {
        // `done` comes after the final output is stored: a machine lost after it lost no work.
        if (seen.done) {
          ending = 'over';
          ok = true;
          return seen.done;
        }
        throw await lose(st.lostReason ?? 'the trainer process is gone');
      }
      if (backend.stallMs && lastEventAt !== undefined && Date.now() - lastEventAt > backend.stallMs) {
        // A hung machine or trainer: stop what may still run there and start over from the checkpoint.
        await backend.cancel(machine, manifest.jobId).catch(() => undefined);
        throw await lose(`no events for ${Math.round((Date.now() - lastEventAt) / 1000)} s`);
      }
      await ctx.sleep(limits.pollMs ?? POLL_MS);
    }
  } catch (e) {
    // A worker shutdown or heartbeat timeout leaves the job to the next attempt; a cancelled run (or any
    // other failure while the job still runs) stops the job we started.
    if (ending === 'running' && detachesOnCancel(ctx)) ending = 'detached';
    if (ending === 'running') await backend.cancel(machine, manifest.jobId).catch(() => undefined);
    throw e;
  } finally {
    if (ending !== 'detached') {
      // After a failure its own error wins; the failed release is recorded in the ledger (never swallowed),
      // and the workflow's cleanup activity, then the reaper, release by job id.
      const releaseError = await releaseOrThrow(backend, machine, manifest.jobId).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (releaseError === undefined) await ledger.released().catch(() => undefined);
      else {
        await ledger.releaseFailed(errorText(releaseError)).catch(() => undefined);
        if (ok) throw releaseError;
      }
    }
  }
}

/**
 * A machine left running costs money: when release fails, release by the provider's own records; when
 * that fails too, fail the attempt (retryable) so the retry releases it (runTraining's first step).
 */
async function releaseOrThrow(backend: ComputeBackend, machine: MachineHandle, jobId: string): Promise<void> {
  try {
    await backend.release(machine);
  } catch (e) {
    if (!backend.releaseJob) return; // nothing rented (local, plain ssh): nothing can be left running
    try {
      await backend.releaseJob(jobId);
    } catch (e2) {
      throw transient(
        `could not release machine ${machine.machineId} of trainer job ${jobId}: ${(e as Error).message}; ${(e2 as Error).message}`,
      );
    }
  }
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Release whatever the provider still holds for a job (cleanup after failure or cancellation); the
 * ledger then says so, or records why it could not.
 */
async function releaseMachinesOf(
  backend: ComputeBackend,
  job: { jobId: string; ledger: () => Promise<LedgerFile> },
  label: string,
): Promise<number> {
  if (!backend.releaseJob) return 0;
  try {
    const n = await backend.releaseJob(job.jobId);
    // Machines found and released now were billing until now; none found: the ledger's last sighting stands.
    if (n > 0) {
      const ledger = await job.ledger();
      for (const r of ledger.records) if (!r.releasedAt || r.releaseFailed) await ledger.releasedLate(r.machineId);
    }
    return n;
  } catch (e) {
    const ledger = await job.ledger().catch(() => undefined);
    const open = ledger?.records.filter((r) => !r.releasedAt || r.releaseFailed) ?? [];
    for (const r of open) await ledger?.releaseFailed(errorText(e), r.machineId).catch(() => undefined);
    if (e instanceof ComputeConfigError) throw badInput(`releasing the machines of ${label}: ${e.message}`, e);
    throw e;
  }
}

/** calibrateInspectGrader's input: the eval set names the scenarios to calibrate; the judge is the grader. */
export interface InspectCalibrationRequest {
  storeUri: string;
  evalSet: { key: string; sha256: string };
  /** eval.inspect.task: only inspect_evals/agentic_misalignment has calibration sets. */
  task: string;
  judge: ProviderSettings;
}

/** The grader's calibration needs no GPU (the replies are fixed): always this machine, on its CPU. */
const CALIBRATION_COMPUTE = { backend: 'local', device: 'cpu' } as TrainRequest['experiment']['compute'];

/** The frozen sets of the scenarios the eval set uses; a set that changed is the operator's to fix. */
async function inspectCalibrationSets(store: ArtifactStore, req: InspectCalibrationRequest) {
  const lines = parseEvalSet((await store.get(req.evalSet.key)).toString('utf8'), req.evalSet.key);
  try {
    return inspectCalibrationScenarios(req.task, lines).map((s) => loadInspectCalibrationSet(s));
  } catch (e) {
    if (e instanceof CalibrationSetError) throw badInput(e.message, e);
    throw e;
  }
}

/** A job's id and its ledger, from the store and the job's folder key. */
function jobOf(storeUri: string, key: string) {
  const store = openStore(storeUri);
  return { jobId: jobIdFor(store.uri(key)), ledger: () => LedgerFile.load(store, ledgerKey(key)) };
}

/** Whether the workflow that owns a job is still open (a closed or unknown one can no longer release it). */
async function workflowRunning(client: Client, workflowId: string): Promise<boolean> {
  try {
    return (await client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return false;
    throw e;
  }
}

/** The light `msm-cleanup` queue: releasing machines and the reaper, never behind a GPU job for a slot. */
export function createCleanupActivities(
  trainer: ReturnType<typeof createTrainerActivities>,
  _deps: TrainerActivityDeps,
) {
  return {
    releaseTrainingMachines: trainer.releaseTrainingMachines,
    releaseEvalMachines: trainer.releaseEvalMachines,
    releaseCapabilityMachines: trainer.releaseCapabilityMachines,
    reapMachines: trainer.reapMachines,
  };
}

export function createTrainerActivities(deps: TrainerActivityDeps = {}) {
  const pick = backendPicker({ stateDir: deps.stateDir ?? STATE_DIR, localPython: pythonExecutable() });
  const backendFor = (compute: TrainRequest['experiment']['compute']) => deps.backend ?? pick(compute);
  const limitsOf = (compute: Parameters<typeof jobLimitsOf>[0]) => ({ ...jobLimitsOf(compute), pollMs: deps.pollMs });
  return {
    /** A midtraining or AFT run; the run folder is derived from every input, so equal runs are reused. */
    async runTraining(req: TrainRequest): Promise<TrainResult> {
      const store = openStore(req.storeUri);
      const runKey = runKeyOf(req);
      const jobId = jobIdFor(store.uri(runKey));
      const backend = backendFor(req.experiment.compute);
      const records = await recordsOf(store, runKey);
      if (await store.exists(`${runKey}/final/COMPLETE`)) {
        // An attempt that finished the run but failed to release its machine left it to this one.
        await backend.releaseJob?.(jobId);
        const metrics = await readJson<Record<string, number>>(store, `${runKey}/final/metrics.json`);
        return trainResult(store.uri(`${runKey}/final`), runKey, metrics, records.ledger.usage());
      }
      const done = await runJob(
        backend,
        trainManifest(req, jobId, (k) => store.uri(k), runKey),
        records,
        limitsOf(req.experiment.compute),
      );
      return trainResult(done.outputUri, runKey, done.metrics, records.ledger.usage());
    },

    /**
     * Cleanup after a run failed or was cancelled (the workflow runs it non-cancellably): release every
     * machine the provider still holds for the run's job, whichever worker provisioned it.
     */
    async releaseTrainingMachines(req: TrainRequest): Promise<number> {
      return releaseMachinesOf(backendFor(req.experiment.compute), jobOf(req.storeUri, runKeyOf(req)), req.label);
    },

    /** The same cleanup for an evaluation's sampling (or Inspect) job. */
    async releaseEvalMachines(req: EvalRequest): Promise<number> {
      const key = req.experiment.eval.inspect ? inspectEvalKeyOf(req) : evalKeyOf(req);
      return releaseMachinesOf(backendFor(req.experiment.compute), jobOf(req.storeUri, key), req.label);
    },

    /** The reaper's pass over one backend and store (see src/compute/reaper.ts). */
    async reapMachines(target: ReaperTarget): Promise<ReapOutcome[]> {
      const ctx = Context.current();
      const store = openStore(target.storeUri);
      return reapLeakedMachines(backendFor(target.compute), store, {
        workflowRunning: (id) => workflowRunning(ctx.client, id),
        beat: (n) => ctx.heartbeat({ reaped: n }),
      });
    },

    /**
     * Evaluate a model with an Inspect task (eval.inspect): one job runs every condition where the model is
     * (resumable per condition) and grades it; its results become msm's samples and judgments.
     */
    async runInspectEval(req: EvalRequest): Promise<EvalSummary> {
      const store = openStore(req.storeUri);
      const evalKey = inspectEvalKeyOf(req);
      const jobId = jobIdFor(store.uri(evalKey));
      const backend = backendFor(req.experiment.compute);
      const records = await recordsOf(store, evalKey);
      if (await store.exists(`${evalKey}/inspect/COMPLETE`))
        await backend.releaseJob?.(jobId); // see runTraining
      else {
        let manifest: TrainerJobManifest;
        try {
          manifest = inspectManifest(req, jobId, (k) => store.uri(k), evalKey);
        } catch (e) {
          if (e instanceof InspectGraderError) throw badInput(e.message, e);
          throw e;
        }
        await runJob(backend, manifest, records, limitsOf(req.experiment.compute));
      }
      const beat = (done: number, of: number) => Context.current().heartbeat({ stage: 'judgments', done, of });
      const summary = await storeInspectResults(store, evalKey, providerId(req.experiment.eval.judge), beat);
      return { ...summary, compute: records.ledger.usage() };
    },

    /**
     * An arm's capability checks (eval.capabilities): one job runs every check where the model is
     * (resumable per check); each check's per-sample scores become its score.
     */
    async runCapabilityChecks(req: CapabilityRequest): Promise<CapabilityResult> {
      const store = openStore(req.storeUri);
      const key = capabilitiesKeyOf(req);
      const jobId = jobIdFor(store.uri(key));
      const backend = backendFor(req.experiment.compute);
      const records = await recordsOf(store, key);
      if (await store.exists(`${key}/capabilities/COMPLETE`))
        await backend.releaseJob?.(jobId); // see runTraining
      else {
        let manifest: TrainerJobManifest;
        try {
          manifest = await capabilitiesManifest(
            req,
            jobId,
            (k) => store.uri(k),
            key,
            async (k) => (await store.get(k)).toString('utf8'),
          );
        } catch (e) {
          if (e instanceof InspectGraderError || e instanceof JsonlError) throw badInput(e.message, e);
          throw e;
        }
        await runJob(backend, manifest, records, limitsOf(req.experiment.compute));
      }
      const checks = await storedCapabilityScores(store, key, req.checks);
      return { arm: req.arm, cell: req.cell, modelUri: req.modelUri, checks, compute: records.ledger.usage() };
    },

    /**
     * The Inspect task's grader on the frozen calibration sets of the scenarios the eval set uses: one
     * inspect-calibration job, always on this machine's CPU (no model runs), its folder keyed by grader and
     * sets so it is paid once. null: no set applies (another task, or no scenario with a set).
     */
    async calibrateInspectGrader(req: InspectCalibrationRequest): Promise<JudgeCalibrationResult | null> {
      const store = openStore(req.storeUri);
      const sets: InspectCalibrationSet[] = await inspectCalibrationSets(store, req);
      if (!sets.length) return null;
      const key = inspectCalibrationKeyOf(req.judge, sets);
      const jobId = jobIdFor(store.uri(key));
      const backend = backendFor(CALIBRATION_COMPUTE);
      const records = await recordsOf(store, key);
      if (await store.exists(`${key}/out/COMPLETE`))
        await backend.releaseJob?.(jobId); // see runTraining
      else {
        let manifest: TrainerJobManifest;
        try {
          manifest = inspectCalibrationManifest(sets, req.judge, jobId, (k) => store.uri(k), key);
        } catch (e) {
          if (e instanceof InspectGraderError) throw badInput(e.message, e);
          throw e;
        }
        await runJob(backend, manifest, records, limitsOf({}));
      }
      const file = `${key}/out/verdicts.jsonl`;
      const verdicts = parseJsonl((await store.get(file)).toString('utf8'), inspectVerdictSchema, store.uri(file));
      try {
        const kinds = tallyInspectCalibration(sets, verdicts, store.uri(file));
        return { judgeModel: providerId(req.judge), kinds, parsedByCode: false };
      } catch (e) {
        if (e instanceof CalibrationSetError) throw badInput(e.message, e);
        throw e;
      }
    },

    /** The same cleanup for an arm's capability checks. */
    async releaseCapabilityMachines(req: CapabilityRequest): Promise<number> {
      return releaseMachinesOf(
        backendFor(req.experiment.compute),
        jobOf(req.storeUri, capabilitiesKeyOf(req)),
        req.label,
      );
    },

    /** Sample answers to the eval prompts from a trained model (resumable per batch inside the job). */
    async generateSamples(req: EvalRequest): Promise<SamplesRef> {
      const store = openStore(req.storeUri);
      const evalKey = evalKeyOf(req);
      const samplesKey = `${evalKey}/samples/samples.jsonl`;
      const ref = {
        evalKey,
        samplesKey,
        samplesUri: store.uri(samplesKey),
        samples: req.evalSet.prompts * req.experiment.eval.samplesPerPrompt,
      };
      const jobId = jobIdFor(store.uri(evalKey));
      const records = await recordsOf(store, evalKey);
      if (await store.exists(`${evalKey}/samples/COMPLETE`)) {
        await backendFor(req.experiment.compute).releaseJob?.(jobId); // see runTraining
        return { ...ref, compute: records.ledger.usage() };
      }
      const systemPrompt = req.systemPrompt ? (await store.get(req.systemPrompt.key)).toString('utf8') : undefined;
      if (req.experiment.eval.engine?.kind === 'openai') {
        // A server samples: no job, no machine of msm's (its cost is the server's, outside compute.budgetUsd).
        await sampleOnEngine(store, req, evalKey, systemPrompt, (d) => Context.current().heartbeat(d));
        return ref;
      }
      const manifest = sampleManifest(req, jobId, (k) => store.uri(k), evalKey, systemPrompt);
      await runJob(backendFor(req.experiment.compute), manifest, records, limitsOf(req.experiment.compute));
      return { ...ref, compute: records.ledger.usage() };
    },
  };
}
