import { Context } from '@temporalio/activity';
import { ComputeConfigError, type ComputeBackend, type MachineHandle } from '../compute/backend';
import { backendPicker } from '../compute/from-config';
import { readJson } from '../store/json';
import { openStore } from '../store/open-store';
import type { TrainerEvent, TrainerJobManifest } from '../trainer/job';
import { TRAINER_EXIT_BAD_INPUT } from '../trainer/job';
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

/**
 * Provision, launch (or re-attach to) a trainer job, stream its events as heartbeats until it ends, and
 * release the machine. Exit 2 fails the run (bad input); a lost process or any other exit is a
 * preemption: Temporal retries and the trainer resumes from its newest complete checkpoint.
 */
async function runJob(backend: ComputeBackend, manifest: TrainerJobManifest): Promise<JobOutcome> {
  const ctx = Context.current();
  let machine: MachineHandle;
  try {
    machine = await backend.provision(manifest.jobId);
  } catch (e) {
    if (e instanceof ComputeConfigError) throw badInput(`trainer job ${manifest.jobId}: ${e.message}`, e);
    throw e;
  }
  let finished = false;
  try {
    await backend.launch(machine, manifest);
    let cursor = 0;
    let lastError: string | undefined;
    let progress: Record<string, unknown> = {};
    // Outside the loop: `done` may arrive in the poll before the one that sees the process exit.
    let done: JobOutcome | undefined;
    for (;;) {
      const st = await backend.poll(machine, manifest.jobId, cursor);
      cursor = st.nextCursor;
      for (const ev of st.events) {
        if (ev.event === 'progress') progress = { ...progress, step: ev.step, totalSteps: ev.totalSteps, loss: ev.loss };
        else if (ev.event === 'resumed') progress = { ...progress, resumedFrom: ev.step };
        else if (ev.event === 'checkpoint') progress = { ...progress, checkpoint: ev.uri };
        else if (ev.event === 'error') lastError = ev.message;
        else if (ev.event === 'done') done = ev;
      }
      ctx.heartbeat({ job: manifest.jobId, ...progress });
      if (st.state === 'exited') {
        finished = true;
        if (st.exitCode === 0 && done) return done;
        const why = lastError ?? st.stderrTail?.trim().split('\n').slice(-5).join('\n') ?? 'no message';
        if (st.exitCode === TRAINER_EXIT_BAD_INPUT) throw badInput(`trainer job ${manifest.jobId} rejected its input: ${why}`);
        throw transient(`trainer job ${manifest.jobId} exited with code ${st.exitCode}: ${why}`);
      }
      if (st.state === 'lost') {
        finished = true;
        const why = st.lostReason ? ` (${st.lostReason})` : '';
        throw transient(`trainer job ${manifest.jobId} was lost${why}: preemption, resuming from the newest checkpoint`);
      }
      await ctx.sleep(POLL_MS);
    }
  } catch (e) {
    // Cancellation (or any failure while the job still runs) must stop the job we started.
    if (!finished) await backend.cancel(machine, manifest.jobId).catch(() => undefined);
    throw e;
  } finally {
    await backend.release(machine).catch(() => undefined);
  }
}

/** The hyper-parameters that shape the result: activation recomputation only trades memory for time. */
function resultHyper(h: TrainRequest['hyper']): Omit<TrainRequest['hyper'], 'gradientCheckpointing'> {
  const { gradientCheckpointing: _memoryOnly, ...rest } = h;
  return rest;
}

/** The trainer records its resumes in the run's metrics, so they survive whichever attempt finishes it. */
function trainResult(outputUri: string, runKey: string, metrics: Record<string, number>): TrainResult {
  return { outputUri, runKey, metrics, resumedFromStep: metrics.resumed_from_step ?? null, preemptions: metrics.resumes ?? 0 };
}

/**
 * The compute job of an output: readable (its key) and unique per store, so two experiments whose runs
 * hash the same but write to different stores never share a job folder, a lock or an event stream.
 */
function jobIdFor(outputUri: string): string {
  const key = outputUri.replace(/^[a-z0-9+.-]+:\/\//i, '').split('/').slice(-2).join('_');
  return `${key}-${sha256Hex(outputUri).slice(0, 8)}`;
}

export function createTrainerActivities(deps: TrainerActivityDeps = {}) {
  const pick = backendPicker({ stateDir: deps.stateDir ?? STATE_DIR, localPython: pythonExecutable() });
  const backendFor = (compute: TrainRequest['experiment']['compute']) => deps.backend ?? pick(compute);
  return {
    /** A midtraining or AFT run; the run folder is derived from every input, so equal runs are reused. */
    async runTraining(req: TrainRequest): Promise<TrainResult> {
      const store = openStore(req.storeUri);
      const b = req.experiment.baseModel;
      const runKey = `runs/${req.label}-${contentId({
        kind: req.kind,
        data: req.data.sha256,
        fraction: req.fraction ?? 1,
        seed: req.seed,
        initFrom: req.initFrom?.outputUri ?? null,
        base: b,
        hyper: resultHyper(req.hyper),
        // Only when set, so runs from before these options keep their keys (and are reused).
        ...(req.freshAdapter ? { freshAdapter: true } : {}),
        ...(req.mix ? { mix: { data: req.mix.data.sha256, ratio: req.mix.ratio } } : {}),
      })}`;
      if (await store.exists(`${runKey}/final/COMPLETE`)) {
        const metrics = await readJson<Record<string, number>>(store, `${runKey}/final/metrics.json`);
        return trainResult(store.uri(`${runKey}/final`), runKey, metrics);
      }
      const manifest: TrainerJobManifest = {
        kind: req.kind,
        jobId: jobIdFor(store.uri(runKey)),
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
        hyper: req.hyper,
        checkpointPrefix: store.uri(`${runKey}/checkpoints`),
        outputUri: store.uri(`${runKey}/final`),
        seed: req.seed,
        device: req.experiment.compute.device,
      };
      const done = await runJob(backendFor(req.experiment.compute), manifest);
      return trainResult(done.outputUri, runKey, done.metrics);
    },

    /** Sample answers to the eval prompts from a trained model (resumable per prompt inside the job). */
    async generateSamples(req: EvalRequest): Promise<SamplesRef> {
      const store = openStore(req.storeUri);
      const e = req.experiment.eval;
      const evalKey = `evals/${req.label}-${contentId({
        model: req.modelUri,
        evalSet: req.evalSet.sha256,
        samples: e.samplesPerPrompt,
        temperature: e.temperature,
        maxNewTokens: e.maxNewTokens,
        seed: req.seed,
      })}`;
      const outputUri = store.uri(`${evalKey}/samples`);
      const samplesKey = `${evalKey}/samples/samples.jsonl`;
      const samplesUri = store.uri(samplesKey);
      const samples = req.evalSet.prompts * e.samplesPerPrompt;
      if (await store.exists(`${evalKey}/samples/COMPLETE`)) return { evalKey, samplesKey, samplesUri, samples };
      const b = req.experiment.baseModel;
      const manifest: TrainerJobManifest = {
        kind: 'generate',
        jobId: jobIdFor(store.uri(evalKey)),
        baseModel: { init: b.init, path: b.path, initSeed: b.initSeed },
        tokenizerUri: req.tokenizerUri,
        modelUri: req.modelUri ?? undefined,
        promptsUri: store.uri(req.evalSet.key),
        samplesPerPrompt: e.samplesPerPrompt,
        temperature: e.temperature,
        maxNewTokens: e.maxNewTokens,
        checkpointPrefix: store.uri(`${evalKey}/checkpoints`),
        outputUri,
        seed: req.seed,
        device: req.experiment.compute.device,
      };
      await runJob(backendFor(req.experiment.compute), manifest);
      return { evalKey, samplesKey, samplesUri, samples };
    },
  };
}
