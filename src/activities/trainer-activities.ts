import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { reapLeakedMachines, type ReaperTarget, type ReapOutcome } from '../compute/reaper';
import { ComputeCapacityError, ComputeConfigError, type ComputeBackend, type MachineHandle } from '../compute/backend';
import { LedgerFile } from '../compute/ledger';
import { backendPicker } from '../compute/from-config';
import { evalKeyOf, sampleManifest } from '../eval/sampling';
import { InspectGraderError, inspectEvalKeyOf, inspectManifest } from '../eval/inspect/manifest';
import { storeInspectResults } from '../eval/inspect/store-results';
import type { EvalSummary } from '../eval/types';
import { providerId } from '../llm/call';
import { readJson } from '../store/json';
import { openStore } from '../store/open-store';
import type { TrainerEvent, TrainerJobManifest } from '../training/job';
import { TRAINER_EXIT_BAD_INPUT } from '../training/job';
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
}

/** Fold a poll's events into what was seen; true when one of them was a new checkpoint. */
function foldEvents(events: TrainerEvent[], seen: SeenEvents): boolean {
  let checkpointSeen = false;
  for (const ev of events) {
    if (ev.event === 'progress')
      seen.progress = { ...seen.progress, step: ev.step, totalSteps: ev.totalSteps, loss: ev.loss };
    else if (ev.event === 'resumed') seen.progress = { ...seen.progress, resumedFrom: ev.step };
    else if (ev.event === 'checkpoint') {
      seen.progress = { ...seen.progress, checkpoint: ev.uri };
      checkpointSeen = true;
    } else if (ev.event === 'error') seen.lastError = ev.message;
    else if (ev.event === 'done') seen.done = ev;
  }
  return checkpointSeen;
}

/** Provision a machine for the job, heartbeating meanwhile (renting one takes minutes); config and capacity errors classified. */
async function provisionFor(
  backend: ComputeBackend,
  jobId: string,
  beat: (extra: Record<string, unknown>) => void,
): Promise<MachineHandle> {
  const beating = setInterval(() => beat({ provisioning: true }), 5000);
  try {
    return await backend.provision(jobId);
  } catch (e) {
    if (e instanceof ComputeConfigError) throw badInput(`trainer job ${jobId}: ${e.message}`, e);
    if (e instanceof ComputeCapacityError) throw transient(`trainer job ${jobId}: ${e.message}`, e.retryAfterMs, e);
    throw e;
  } finally {
    clearInterval(beating);
  }
}

/**
 * Provision, launch (or re-attach to) a trainer job, stream its events as heartbeats until it ends, and
 * release the machine. Exit 2 fails the run (bad input); a lost process or machine, a silent job or any
 * other exit is retried by Temporal and the trainer resumes from its newest complete checkpoint. Every
 * machine is metered in the ledger from provision to release, and each loss is recorded with the work it
 * cost.
 */
async function runJob(backend: ComputeBackend, manifest: TrainerJobManifest, ledger: LedgerFile): Promise<JobOutcome> {
  const ctx = Context.current();
  const beat = (extra: Record<string, unknown> = {}) =>
    ctx.heartbeat({ job: manifest.jobId, compute: ledger.usage(), ...extra });
  // Recorded before anything is rented, so the reaper can trace any machine of this job to its workflow.
  const workflowId = ctx.info.workflowExecution?.workflowId;
  if (workflowId) await ledger.owned({ jobId: manifest.jobId, workflowId });
  const provisionStart = new Date();
  const machine = await provisionFor(backend, manifest.jobId, beat);
  let finished = false;
  let ok = false;
  try {
    await ledger.opened(machine, provisionStart);
    const launch = await backend.launch(machine, manifest);
    await ledger.launched(launch?.attached ?? false);
    // The stall clock starts at the first event: loading a large model may take long before it.
    let lastEventAt: number | undefined;
    let lastSaved = Date.now();
    let cursor = 0;
    // Outside the loop: `done` may arrive in the poll before the one that sees the process exit.
    const seen: SeenEvents = { progress: {} };
    const lose = async (why: string) => {
      finished = true;
      await ledger.lost(why).catch(() => undefined);
      return transient(
        `trainer job ${manifest.jobId} was lost (${why}): preemption, resuming from the newest checkpoint`,
      );
    };
    for (;;) {
      const st = await backend.poll(machine, manifest.jobId, cursor);
      cursor = st.nextCursor;
      if (st.events.length) lastEventAt = Date.now();
      const checkpointSeen = foldEvents(st.events, seen);
      const { progress, lastError, done } = seen;
      // Bookkeeping never stops training: a failed ledger write is retried at the next occasion.
      if (checkpointSeen) {
        lastSaved = Date.now();
        await ledger.checkpointed().catch(() => undefined);
      } else if (Date.now() - lastSaved >= LEDGER_SAVE_MS) {
        lastSaved = Date.now();
        await ledger.seen().catch(() => undefined);
      }
      beat(progress);
      if (st.state === 'exited') {
        finished = true;
        if (st.exitCode === 0 && done) {
          ok = true;
          return done;
        }
        const why = lastError ?? st.stderrTail?.trim().split('\n').slice(-5).join('\n') ?? 'no message';
        if (st.exitCode === TRAINER_EXIT_BAD_INPUT)
          throw badInput(`trainer job ${manifest.jobId} rejected its input: ${why}`);
        if ((st.exitCode ?? 0) >= KILLED_BY_SIGNAL) throw await lose(`the trainer was killed (exit ${st.exitCode})`);
        throw transient(`trainer job ${manifest.jobId} exited with code ${st.exitCode}: ${why}`);
      }
      if (st.state === 'lost') {
        // `done` comes after the final output is stored: a machine lost after it lost no work.
        if (done) {
          finished = ok = true;
          return done;
        }
        throw await lose(st.lostReason ?? 'the trainer process is gone');
      }
      if (backend.stallMs && lastEventAt !== undefined && Date.now() - lastEventAt > backend.stallMs) {
        // A hung machine or trainer: stop what may still run there and start over from the checkpoint.
        await backend.cancel(machine, manifest.jobId).catch(() => undefined);
        throw await lose(`no events for ${Math.round((Date.now() - lastEventAt) / 1000)} s`);
      }
      await ctx.sleep(POLL_MS);
    }
  } catch (e) {
    // Cancellation (or any failure while the job still runs) must stop the job we started.
    if (!finished) await backend.cancel(machine, manifest.jobId).catch(() => undefined);
    throw e;
  } finally {
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
    reapMachines: trainer.reapMachines,
  };
}

export function createTrainerActivities(deps: TrainerActivityDeps = {}) {
  const pick = backendPicker({ stateDir: deps.stateDir ?? STATE_DIR, localPython: pythonExecutable() });
  const backendFor = (compute: TrainRequest['experiment']['compute']) => deps.backend ?? pick(compute);
  return {
    /** A midtraining or AFT run; the run folder is derived from every input, so equal runs are reused. */
    async runTraining(req: TrainRequest): Promise<TrainResult> {
      const store = openStore(req.storeUri);
      const runKey = runKeyOf(req);
      const jobId = jobIdFor(store.uri(runKey));
      const backend = backendFor(req.experiment.compute);
      const ledger = await LedgerFile.load(store, ledgerKey(runKey));
      if (await store.exists(`${runKey}/final/COMPLETE`)) {
        // An attempt that finished the run but failed to release its machine left it to this one.
        await backend.releaseJob?.(jobId);
        const metrics = await readJson<Record<string, number>>(store, `${runKey}/final/metrics.json`);
        return trainResult(store.uri(`${runKey}/final`), runKey, metrics, ledger.usage());
      }
      const done = await runJob(
        backend,
        trainManifest(req, jobId, (k) => store.uri(k), runKey),
        ledger,
      );
      return trainResult(done.outputUri, runKey, done.metrics, ledger.usage());
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
        await runJob(backend, manifest, await LedgerFile.load(store, ledgerKey(evalKey)));
      }
      const beat = (done: number, of: number) => Context.current().heartbeat({ stage: 'judgments', done, of });
      return storeInspectResults(store, evalKey, providerId(req.experiment.eval.judge), beat);
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
      if (await store.exists(`${evalKey}/samples/COMPLETE`)) {
        await backendFor(req.experiment.compute).releaseJob?.(jobId); // see runTraining
        return ref;
      }
      const systemPrompt = req.systemPrompt ? (await store.get(req.systemPrompt.key)).toString('utf8') : undefined;
      const manifest = sampleManifest(req, jobId, (k) => store.uri(k), evalKey, systemPrompt);
      await runJob(backendFor(req.experiment.compute), manifest, await LedgerFile.load(store, ledgerKey(evalKey)));
      return ref;
    },
  };
}
