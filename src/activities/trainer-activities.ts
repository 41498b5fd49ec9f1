import { Context } from '@temporalio/activity';
import { ComputeCapacityError, ComputeConfigError, type ComputeBackend, type MachineHandle } from '../compute/backend';
import { LedgerFile, type ComputeUsage } from '../compute/ledger';
import { backendPicker } from '../compute/from-config';
import { readJson } from '../store/json';
import { openStore } from '../store/open-store';
import { defaultMicroBatch } from '../plan/plan';
import { worldOf } from '../plan/compute-shape';
import type { JobWorld, TrainerEvent, TrainerJobManifest, TrainHyper } from '../training/job';
import { TRAINER_EXIT_BAD_INPUT } from '../training/job';
import { contentId, sha256Hex } from '../util/hash';
import { pythonExecutable, STATE_DIR } from '../util/project-paths';
import { badInput, transient } from './failures';
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

/**
 * Provision, launch (or re-attach to) a trainer job, stream its events as heartbeats until it ends, and
 * release the machine. Exit 2 fails the run (bad input); a lost process or machine, a silent job or any
 * other exit is retried by Temporal and the trainer resumes from its newest complete checkpoint. Every
 * machine is metered in the ledger from provision to release, and each loss is recorded with the work it
 * cost.
 */
async function runJob(backend: ComputeBackend, manifest: TrainerJobManifest, ledger: LedgerFile): Promise<JobOutcome> {
  const ctx = Context.current();
  const beat = (extra: Record<string, unknown> = {}) => ctx.heartbeat({ job: manifest.jobId, compute: ledger.usage(), ...extra });
  // Provisioning a rented machine takes minutes: keep heartbeating meanwhile.
  const provisionStart = new Date();
  const beating = setInterval(() => beat({ provisioning: true }), 5000);
  let machine: MachineHandle;
  try {
    machine = await backend.provision(manifest.jobId);
  } catch (e) {
    if (e instanceof ComputeConfigError) throw badInput(`trainer job ${manifest.jobId}: ${e.message}`, e);
    if (e instanceof ComputeCapacityError) throw transient(`trainer job ${manifest.jobId}: ${e.message}`, e.retryAfterMs, e);
    throw e;
  } finally {
    clearInterval(beating);
  }
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
    let lastError: string | undefined;
    let progress: Record<string, unknown> = {};
    // Outside the loop: `done` may arrive in the poll before the one that sees the process exit.
    let done: JobOutcome | undefined;
    const lose = async (why: string) => {
      finished = true;
      await ledger.lost(why).catch(() => undefined);
      return transient(`trainer job ${manifest.jobId} was lost (${why}): preemption, resuming from the newest checkpoint`);
    };
    for (;;) {
      const st = await backend.poll(machine, manifest.jobId, cursor);
      cursor = st.nextCursor;
      let checkpointSeen = false;
      if (st.events.length) lastEventAt = Date.now();
      for (const ev of st.events) {
        if (ev.event === 'progress') progress = { ...progress, step: ev.step, totalSteps: ev.totalSteps, loss: ev.loss };
        else if (ev.event === 'resumed') progress = { ...progress, resumedFrom: ev.step };
        else if (ev.event === 'checkpoint') {
          progress = { ...progress, checkpoint: ev.uri };
          checkpointSeen = true;
        } else if (ev.event === 'error') lastError = ev.message;
        else if (ev.event === 'done') done = ev;
      }
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
        if (st.exitCode === TRAINER_EXIT_BAD_INPUT) throw badInput(`trainer job ${manifest.jobId} rejected its input: ${why}`);
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
    // After a failure its own error wins; the workflow's cleanup activity releases by job id if this did not.
    await releaseOrThrow(backend, machine, manifest.jobId).catch((e: unknown) => {
      if (ok) throw e;
    });
    await ledger.released().catch(() => undefined);
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
      throw transient(`could not release machine ${machine.machineId} of trainer job ${jobId}: ${(e as Error).message}; ${(e2 as Error).message}`);
    }
  }
}

/**
 * The hyper-parameters that shape the result: activation recomputation and the micro-batch (gradient
 * accumulation makes up the same effective batch) only trade memory for time, and compilation only
 * speed, so none is in a run's key (and runs from before they existed are reused).
 */
function resultHyper(h: TrainRequest['hyper']): Omit<TrainRequest['hyper'], 'gradientCheckpointing' | 'compile' | 'microBatchSize'> {
  const { gradientCheckpointing: _memoryOnly, compile: _speedOnly, microBatchSize: _memoryToo, ...rest } = h;
  return rest;
}

/**
 * The manifest's hyper-parameters: the micro-batch is always explicit. Experiments loaded since the
 * planner carry the one it chose; a run loaded before gets the planner's default for its world.
 */
function jobHyper(h: TrainRequest['hyper'], world: JobWorld): TrainHyper {
  return { ...h, microBatchSize: h.microBatchSize ?? defaultMicroBatch(h.batchSize, world.nodes * world.procsPerNode) };
}

/** The trainer records its resumes in the run's metrics, so they survive whichever attempt finishes it. */
function trainResult(outputUri: string, runKey: string, metrics: Record<string, number>, compute: ComputeUsage): TrainResult {
  return { outputUri, runKey, metrics, resumedFromStep: metrics.resumed_from_step ?? null, preemptions: metrics.resumes ?? 0, compute };
}

/** The folder of an eval generation request: derived from every input, so equal samplings are reused. */
function evalKeyOf(req: EvalRequest): string {
  const e = req.experiment.eval;
  return `evals/${req.label}-${contentId({
    model: req.modelUri,
    evalSet: req.evalSet.sha256,
    samples: e.samplesPerPrompt,
    temperature: e.temperature,
    maxNewTokens: e.maxNewTokens,
    seed: req.seed,
    // Only when set, so evaluations without one keep the keys they always had.
    ...(req.systemPrompt ? { systemPrompt: req.systemPrompt.sha256 } : {}),
  })}`;
}

/** The run folder of a training request: derived from every input, so equal runs are reused. */
function runKeyOf(req: TrainRequest): string {
  return `runs/${req.label}-${contentId({
    kind: req.kind,
    data: req.data.sha256,
    fraction: req.fraction ?? 1,
    seed: req.seed,
    initFrom: req.initFrom?.outputUri ?? null,
    base: req.experiment.baseModel,
    hyper: resultHyper(req.hyper),
    // Only when set, so runs from before these options keep their keys (and are reused).
    ...(req.freshAdapter ? { freshAdapter: true } : {}),
    ...(req.mix ? { mix: { data: req.mix.data.sha256, ratio: req.mix.ratio } } : {}),
    ...(req.subsetBySeed ? { subsetBySeed: true } : {}),
  })}`;
}

/**
 * The compute job of an output: readable (its key) and unique per store, so two experiments whose runs
 * hash the same but write to different stores never share a job folder, a lock or an event stream.
 */
function jobIdFor(outputUri: string): string {
  const key = outputUri.replace(/^[a-z0-9+.-]+:\/\//i, '').split('/').slice(-2).join('_');
  return `${key}-${sha256Hex(outputUri).slice(0, 8)}`;
}

/** Release whatever the provider still holds for a job (cleanup after failure or cancellation). */
async function releaseMachinesOf(backend: ComputeBackend, jobId: string, label: string): Promise<number> {
  if (!backend.releaseJob) return 0;
  try {
    return await backend.releaseJob(jobId);
  } catch (e) {
    if (e instanceof ComputeConfigError) throw badInput(`releasing the machines of ${label}: ${e.message}`, e);
    throw e;
  }
}

export function createTrainerActivities(deps: TrainerActivityDeps = {}) {
  const pick = backendPicker({ stateDir: deps.stateDir ?? STATE_DIR, localPython: pythonExecutable() });
  const backendFor = (compute: TrainRequest['experiment']['compute']) => deps.backend ?? pick(compute);
  return {
    /** A midtraining or AFT run; the run folder is derived from every input, so equal runs are reused. */
    async runTraining(req: TrainRequest): Promise<TrainResult> {
      const store = openStore(req.storeUri);
      const b = req.experiment.baseModel;
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
      const world = worldOf(req.experiment.compute);
      const manifest: TrainerJobManifest = {
        kind: req.kind,
        jobId,
        baseModel: {
          init: b.init,
          path: b.path,
          hiddenSize: b.hiddenSize,
          numLayers: b.numLayers,
          numHeads: b.numHeads,
          intermediateSize: b.intermediateSize,
          vocabSize: req.data.vocabSize,
          initSeed: b.initSeed,
        },
        tokenizerUri: req.data.tokenizerUri,
        dataUri: req.data.manifestUri,
        fraction: req.fraction,
        initFromUri: req.initFrom?.outputUri,
        ...(req.freshAdapter ? { freshAdapter: true } : {}),
        ...(req.mix ? { mixDataUri: req.mix.data.manifestUri, mixRatio: req.mix.ratio } : {}),
        ...(req.subsetBySeed ? { subsetBySeed: true } : {}),
        hyper: jobHyper(req.hyper, world),
        world,
        checkpointPrefix: store.uri(`${runKey}/checkpoints`),
        outputUri: store.uri(`${runKey}/final`),
        seed: req.seed,
        device: req.experiment.compute.device,
      };
      const done = await runJob(backend, manifest, ledger);
      return trainResult(done.outputUri, runKey, done.metrics, ledger.usage());
    },

    /**
     * Cleanup after a run failed or was cancelled (the workflow runs it non-cancellably): release every
     * machine the provider still holds for the run's job, whichever worker provisioned it.
     */
    async releaseTrainingMachines(req: TrainRequest): Promise<number> {
      return releaseMachinesOf(backendFor(req.experiment.compute), jobIdFor(openStore(req.storeUri).uri(runKeyOf(req))), req.label);
    },

    /** The same cleanup for an evaluation's sampling job. */
    async releaseEvalMachines(req: EvalRequest): Promise<number> {
      return releaseMachinesOf(backendFor(req.experiment.compute), jobIdFor(openStore(req.storeUri).uri(evalKeyOf(req))), req.label);
    },

    /** Sample answers to the eval prompts from a trained model (resumable per batch inside the job). */
    async generateSamples(req: EvalRequest): Promise<SamplesRef> {
      const store = openStore(req.storeUri);
      const e = req.experiment.eval;
      const evalKey = evalKeyOf(req);
      const outputUri = store.uri(`${evalKey}/samples`);
      const samplesKey = `${evalKey}/samples/samples.jsonl`;
      const samplesUri = store.uri(samplesKey);
      const samples = req.evalSet.prompts * e.samplesPerPrompt;
      const jobId = jobIdFor(store.uri(evalKey));
      if (await store.exists(`${evalKey}/samples/COMPLETE`)) {
        await backendFor(req.experiment.compute).releaseJob?.(jobId); // see runTraining
        return { evalKey, samplesKey, samplesUri, samples };
      }
      const b = req.experiment.baseModel;
      const manifest: TrainerJobManifest = {
        kind: 'generate',
        jobId,
        baseModel: { init: b.init, path: b.path, initSeed: b.initSeed },
        tokenizerUri: req.tokenizerUri,
        modelUri: req.modelUri ?? undefined,
        promptsUri: store.uri(req.evalSet.key),
        samplesPerPrompt: e.samplesPerPrompt,
        temperature: e.temperature,
        maxNewTokens: e.maxNewTokens,
        // Set by the memory planner on a GPU; on CPU the trainer picks its own.
        ...(e.batchSize !== undefined ? { batchSize: e.batchSize } : {}),
        // An arm's system prompt (the spec for spec-in-context): its text travels in the manifest.
        ...(req.systemPrompt ? { systemPrompt: (await store.get(req.systemPrompt.key)).toString('utf8') } : {}),
        checkpointPrefix: store.uri(`${evalKey}/checkpoints`),
        outputUri,
        seed: req.seed,
        device: req.experiment.compute.device,
      };
      await runJob(backendFor(req.experiment.compute), manifest, await LedgerFile.load(store, ledgerKey(evalKey)));
      return { evalKey, samplesKey, samplesUri, samples };
    },
  };
}
