import type { Client, Connection } from '@temporalio/client';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { armLines, describeArm, resolveArms } from '../config/arms';
import { aftDataSource } from '../config/aft-source';
import { variantTokensText } from '../model-spec/spec-variants';
import { identityPhrase } from '../config/model-identity';
import { InvalidExperimentError } from '../config/experiment-schema';
import { experimentJsonSchema } from '../config/json-schema';
import { formatFractionCounts } from '../config/aft-subsets';
import { checkExperiment } from '../experiment/check-experiment';
import type { Experiment } from '../config/experiment-schema';
import { loadExperimentFile, readExperimentFile } from '../experiment/load-experiment-file';
import { formatPlan, PlanRefusedError } from '../plan/plan';
import { experimentBaseDir, planFromDisk } from '../plan/plan-inputs';
import { assertWithinBudget, BudgetRefusedError, formatCostPlan } from '../plan/cost';
import { describeTargetPlan } from '../corpus/target';
import { costPlanFromDisk } from '../experiment/cost-inputs';
import { temporalTarget, type TargetFlags, type TemporalTarget } from '../temporal/connection';
import { ensureDevServer } from '../temporal/ensure-server';
import { dataConverterOption } from '../temporal/payload-codec';
import { registerSearchAttributes, requireSearchAttributes } from '../temporal/search-attributes';
import { PROJECT_ROOT } from '../util/project-paths';
import type { msmExperiment } from '../workflows';
import {
  approveUpdate,
  pauseSignal,
  progressQuery,
  resumeSignal,
  setBudgetUpdate,
  setComputeBudgetUpdate,
} from '../workflows/definitions';

const USAGE = `msm — Model Spec Midtraining experiments on Temporal

  msm demo                      start (or reuse) the dev server and a worker, run experiments/demo.json
  msm run <experiment>          the same for any experiment file (.json/.yaml)
  msm start <experiment>        start an experiment on a running server and worker; prints its id
  msm validate <experiment>     every check the workflow makes: schema, inputs, AFT examples per fraction, memory; prints every problem with its path and fix
  msm plan <experiment> [--json] GPU memory per job, and GPU-hours, API dollars and wall clock per stage, before anything is paid; exit 3 when a job cannot fit or the total exceeds budget.totalUsd
  msm progress <workflow-id>    the experiment's or sweep's progress (query, JSON)
  msm watch <workflow-id> [--once]  a live view: stage, corpus cost against budget, training steps, cells, ETA
  msm pause|resume <workflow-id>
  msm budget <workflow-id> <usd> raise the corpus generation budget (generation paused on it resumes)
  msm budget <workflow-id> <usd> --compute  raise the experiment's compute budget (GPU work paused on it resumes)
  msm approve <workflow-id>     approve the previewed document stage (generation.requireApproval)
  msm server                    run the embedded Temporal dev server (state in .msm/temporal)
  msm worker                    run a worker for every task queue (see src/workers/main.ts for options)
  msm codec-server [--port 8081] [--bind 127.0.0.1] [--origin URL,...]  decrypt payloads for the Web UI
                                (Temporal's remote codec protocol, key from MSM_PAYLOAD_KEY; docs/security.md)
  msm sweep <sweep-file> [--wait]  start (or re-attach to) a grid of experiments (msmSweep); prints its id
  msm sweep retry <id> <point> [--wait]  run one failed point of an ended sweep again, alone
  msm schedule create <id> <file> (--cron EXPR | --every 24h) [--overlap BUFFER_ONE] [--catchup 1d]
               [--pause-on-failure] [--note TEXT] [--paused]    a Temporal Schedule of a sweep or experiment
  msm schedule update <id> <file>  the schedule's runs use the file and its inputs as they are now (re-frozen)
  msm schedule list | describe|pause|unpause|trigger|delete <id> | backfill <id> --from ISO --to ISO
  msm reaper <experiment>... [--every 10m] [--once]  a Schedule that releases machines (RunPod pods) whose
                                job's workflow is gone; --once: one pass now
  msm setup                     register msm's search attributes on the namespace (once per namespace; idempotent)
  msm compare <out-dir> <results>...  compare experiments (spec variants): each a report folder or results.json
  msm calibrate import <labels.csv> --id <workflow-id>  labels you gave the run's samples (rows: sample,label)
                                join its judge's calibration; the report is written again
  msm inspect-logs <results.json> [--out <dir>]  Inspect logs (.eval) of the cells evaluated with msm's own suite,
                                beside their samples or in <dir>; prints the inspect view line that opens them
  msm schema [out.json]         export the experiment JSON Schema for editors (msm schema sweep [out.json]: sweep files'; msm schema manifest [out.json]: the trainer job manifest's)

Options: --id <workflow-id>; where Temporal is: --address host:port, --namespace <ns>, --profile <name>, over
Temporal's environment configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,
TEMPORAL_PROFILE, temporal.toml); nothing set: the local dev server at 127.0.0.1:7233, namespace default`;

// The Temporal client (gRPC, protobufs) and the store clients load only for commands that reach them: `msm
// validate`, `plan`, `schema` and `compare` start in a fraction of the time.
async function connect(t: TemporalTarget): Promise<Connection> {
  const { Connection } = await import('@temporalio/client');
  const { address, tls, apiKey, metadata } = t.connectionOptions;
  return Connection.connect({ address, tls, apiKey, metadata });
}

async function client(t: TemporalTarget): Promise<Client> {
  const { Client } = await import('@temporalio/client');
  return new Client({ connection: await connect(t), namespace: t.namespace, ...dataConverterOption() });
}

/** The experiment file's inputs frozen into the store (their hashes go in the workflow input). */
async function freezeExperimentInput(...args: Parameters<typeof import('./freeze-inputs').freezeExperimentInput>) {
  return (await import('./freeze-inputs.js')).freezeExperimentInput(...args);
}

const MSM_EXPERIMENT = 'msmExperiment';

/** The innermost message of a failure chain: an activity's own words, not "Activity task failed". */
function rootCause(err: Error): string {
  let e: Error = err;
  while (e.cause instanceof Error) e = e.cause;
  return e.message;
}

function workflowIdFor(name: string, explicit?: string): string {
  return explicit ?? `msm-${name}`;
}

/** The worker stack (bundler, native bridge, activities) loads only for commands that run workers. */
async function startWorkers(t: TemporalTarget) {
  const { NativeConnection } = await import('@temporalio/worker');
  const { createWorkers, runWorkers } = await import('../workers/create-workers.js');
  (await import('../workers/console-logger.js')).installConsoleLogger(); // before the runtime exists
  const connection = await NativeConnection.connect(t.connectionOptions);
  await requireSearchAttributes(connection, t.namespace);
  return { connection, workers: await createWorkers({ connection, namespace: t.namespace }), runWorkers };
}

async function runExperiment(file: string, flags: TargetFlags, id?: string): Promise<void> {
  const { raw, experiment } = loadExperimentFile(file);
  refuseAboveBudget(experiment, file);
  const input = await freezeExperimentInput(raw, file);
  const target = temporalTarget(flags);
  // Nothing named a server: the embedded dev server, started when it is not running.
  const server = target.local ? await ensureDevServer() : { address: target.address, uiUrl: '', started: false };
  console.log(
    server.started ? `started Temporal dev server at ${server.address}` : `using Temporal at ${target.describe}`,
  );
  const { connection, workers, runWorkers } = await startWorkers(target);
  const running = runWorkers(workers);
  const c = await client(target);
  const workflowId = workflowIdFor(experiment.name, id);
  const handle = await c.workflow.start<typeof msmExperiment>(MSM_EXPERIMENT, {
    taskQueue: 'msm',
    workflowId,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: `MSM experiment ${experiment.name}`,
  });
  const ui = server.uiUrl || (target.local ? 'http://127.0.0.1:8233' : '<your Web UI>');
  console.log(
    `experiment ${workflowId} running — Web UI: ${ui}/namespaces/${target.namespace}/workflows/${workflowId}`,
  );
  const ticker = setInterval(() => {
    handle.query(progressQuery).then(
      (p) =>
        console.log(
          `  stage: ${p.stage}${p.corpus ? `, corpus ${p.corpus.documents} docs` : ''}${p.cells.length ? `, cells ${p.cells.filter((x) => x.status === 'done').length}/${p.cells.length}` : ''}`,
        ),
      () => undefined,
    );
  }, 15_000);
  try {
    const out = await handle.result();
    console.log('\nresults:');
    for (const cell of out.cells) console.log(`  ${cell.id.padEnd(22)} ${cell.k}/${cell.n} judged misaligned`);
    if (out.report.headline) console.log(`\n${out.report.headline.join('\n')}`);
    console.log(`\nreport: ${out.report.htmlPath ?? out.report.htmlUri}`);
    console.log(`results.json: ${out.report.resultsUri}`);
    if (out.report.markdownUri) console.log(`summary: ${out.report.markdownUri}`);
  } finally {
    clearInterval(ticker);
    workers.forEach((w: { shutdown(): void }) => w.shutdown());
    await running;
    await connection.close();
  }
}

const OPTIONS = {
  address: { type: 'string' },
  namespace: { type: 'string' },
  profile: { type: 'string' },
  id: { type: 'string' },
  json: { type: 'boolean' },
  wait: { type: 'boolean' },
  once: { type: 'boolean' },
  compute: { type: 'boolean' },
  cron: { type: 'string' },
  every: { type: 'string' },
  overlap: { type: 'string' },
  catchup: { type: 'string' },
  'pause-on-failure': { type: 'boolean' },
  note: { type: 'string' },
  paused: { type: 'boolean' },
  from: { type: 'string' },
  to: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  port: { type: 'string' },
  bind: { type: 'string' },
  origin: { type: 'string' },
  out: { type: 'string' },
} as const;

/** What every command gets: its words after the command name, the flags, and the Temporal to reach. */
interface CommandContext {
  cmd: string;
  arg: string | undefined;
  positionals: string[];
  values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];
  flags: TargetFlags;
  client(): Promise<Client>;
}

/** Exit status of `msm plan` (and of any command refused by the planner) when a job cannot fit or the budget is short. */
const EXIT_DOES_NOT_FIT = 3;
/** Exit status of an unknown command (after the usage). */
const EXIT_USAGE = 2;

/** A command's exit status when it does not throw (undefined: 0). */
type ExitStatus = number | void;

/**
 * `msm <argv>` in this process: runs the command and returns its exit status, errors mapped to their status
 * and message (on stderr). Never exits the process nor sets process.exitCode: src/cli/main.ts does, and tests
 * call this directly (tests/helpers/msm-cli.ts) without a process's start-up per command.
 */
export async function runCli(argv: string[]): Promise<number> {
  try {
    const status = await main(argv);
    return typeof status === 'number' ? status : 0;
  } catch (err) {
    return failureStatus(err);
  }
}

async function main(argv: string[]): Promise<ExitStatus> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  const [cmd, arg] = positionals;
  const flags: TargetFlags = { address: values.address, namespace: values.namespace, profile: values.profile };
  const command = cmd && Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (!command) {
    console.log(USAGE);
    return cmd && !values.help ? EXIT_USAGE : 0;
  }
  return command({ cmd, arg, positionals, values, flags, client: () => client(temporalTarget(flags)) });
}

/** The message of a failed command, on stderr, and its exit status. */
function failureStatus(err: unknown): number {
  if (err instanceof PlanRefusedError || err instanceof BudgetRefusedError) {
    console.error(err.message);
    return EXIT_DOES_NOT_FIT;
  }
  if (err instanceof InvalidExperimentError) console.error(err.message);
  else if (err instanceof Error && err.name === 'WorkflowFailedError')
    console.error(`workflow failed: ${rootCause(err)}`);
  else console.error(err instanceof Error ? err.message : err);
  return 1;
}

const COMMANDS: Record<string, (c: CommandContext) => Promise<ExitStatus>> = {
  demo: (c) => runExperiment(path.join(PROJECT_ROOT, 'experiments', 'demo.json'), c.flags, c.values.id),
  run: (c) => runExperiment(required(c.arg, 'an experiment file'), c.flags, c.values.id),
  start: startCommand,
  validate: (c) => validate(required(c.arg, 'an experiment file')),
  plan: (c) => printPlan(required(c.arg, 'an experiment file'), c.values.json === true),
  progress: async (c) => {
    const handle = (await c.client()).workflow.getHandle(required(c.arg, 'a workflow id'));
    console.log(JSON.stringify(await handle.query(progressQuery), null, 2));
  },
  pause: pauseOrResume,
  resume: pauseOrResume,
  budget: budgetCommand,
  approve: async (c) => {
    const corpus = (await c.client()).workflow.getHandle(corpusIdOf(required(c.arg, 'a workflow id')));
    console.log(
      `approved ${corpus.workflowId}:\n${JSON.stringify(await corpus.executeUpdate(approveUpdate), null, 2)}`,
    );
  },
  watch: async (c) => {
    const { watch } = await import('./watch-command.js');
    return watch(await c.client(), required(c.arg, 'a workflow id'), { once: c.values.once });
  },
  sweep: sweepCommand,
  schedule: async (c) => {
    const { scheduleCommand } = await import('./schedule-commands.js');
    const f = { ...c.values, pauseOnFailure: c.values['pause-on-failure'] };
    return scheduleCommand(await c.client(), c.positionals.slice(1), f);
  },
  setup: setupCommand,
  reaper: async (c) => {
    const { reaperCommand } = await import('./reaper-command.js');
    await reaperCommand(await c.client(), c.positionals.slice(1), {
      every: c.values.every,
      once: c.values.once,
      id: c.values.id,
    });
  },
  server: async () => {
    const s = await ensureDevServer();
    console.log(`Temporal at ${s.address}, Web UI ${s.uiUrl}${s.started ? '' : ' (already running)'}`);
  },
  'codec-server': async (c) => {
    const { runCodecServer } = await import('./codec-server-command.js');
    await runCodecServer(c.values);
  },
  worker: async (c) => {
    const { workers, runWorkers } = await startWorkers(temporalTarget(c.flags));
    await runWorkers(workers);
  },
  compare: async (c) => {
    const { compareResultFiles } = await import('../report/compare-files.js');
    const log = (line: string) => console.log(line);
    for (const f of compareResultFiles(required(c.arg, 'an output folder'), c.positionals.slice(2), log))
      console.log(f);
  },
  schema: schemaCommand,
  calibrate: async (c) => {
    const { calibrateCommand } = await import('./calibrate-command.js');
    await calibrateCommand(await c.client(), c.arg, c.positionals[2], c.values.id);
  },
  'inspect-logs': async (c) => {
    const { inspectLogsCommand } = await import('./inspect-logs-command.js');
    await inspectLogsCommand(c.arg, { out: c.values.out });
  },
};

/** Checks the file, freezes its inputs (their hashes go in the workflow input) and starts the run. */
async function startCommand(c: CommandContext): Promise<void> {
  const file = required(c.arg, 'an experiment file');
  const { raw, experiment } = loadExperimentFile(file);
  refuseAboveBudget(experiment, file);
  const input = await freezeExperimentInput(raw, file);
  const h = await (
    await c.client()
  ).workflow.start<typeof msmExperiment>(MSM_EXPERIMENT, {
    taskQueue: 'msm',
    workflowId: workflowIdFor(experiment.name, c.values.id),
    args: [input],
  });
  console.log(h.workflowId);
}

async function pauseOrResume(c: CommandContext): Promise<void> {
  const handle = (await c.client()).workflow.getHandle(required(c.arg, 'a workflow id'));
  await handle.signal(c.cmd === 'pause' ? pauseSignal : resumeSignal);
  console.log(`${c.cmd}d ${c.arg}`);
}

async function budgetCommand(c: CommandContext): Promise<void> {
  const usd = Number(c.positionals[2]);
  if (!(usd > 0))
    throw new Error(`budget: give a positive number of USD, e.g. msm budget ${c.arg ?? '<workflow-id>'} 250`);
  if (c.values.compute) {
    // compute.budgetUsd lives on the experiment itself: GPU work paused on it resumes.
    const experiment = (await c.client()).workflow.getHandle(required(c.arg, 'a workflow id'));
    const now = await experiment.executeUpdate(setComputeBudgetUpdate, { args: [usd] });
    console.log(`compute budget of ${experiment.workflowId}: $${now}`);
    return;
  }
  const corpus = (await c.client()).workflow.getHandle(corpusIdOf(required(c.arg, 'a workflow id')));
  console.log(`budget of ${corpus.workflowId}: $${await corpus.executeUpdate(setBudgetUpdate, { args: [usd] })}`);
}

async function sweepCommand(c: CommandContext): Promise<void> {
  const { retrySweepPoint, startSweep } = await import('./sweep-commands.js');
  if (c.arg === 'retry')
    return retrySweepPoint(
      await c.client(),
      required(c.positionals[2], 'a sweep id'),
      required(c.positionals[3], 'a point id'),
      { wait: c.values.wait },
    );
  return startSweep(await c.client(), required(c.arg, 'a sweep file'), { id: c.values.id, wait: c.values.wait });
}

async function setupCommand(c: CommandContext): Promise<void> {
  const t = temporalTarget(c.flags);
  const connection = await connect(t);
  try {
    const { added, present } = await registerSearchAttributes(connection, t.namespace);
    const addedText = added.length ? `added ${added.join(', ')}` : 'already registered';
    console.log(
      `${t.describe}: search attributes ${addedText}${present.length ? `; present: ${present.join(', ')}` : ''}`,
    );
  } finally {
    await connection.close();
  }
}

/**
 * `msm schema sweep [out.json]`: the sweep files' schema; `msm schema manifest [out.json]`: the trainer job
 * manifest's (trainer/msm_trainer/manifest.schema.json); otherwise the experiment files'.
 */
async function schemaCommand(c: CommandContext): Promise<void> {
  const sweep = c.arg === 'sweep';
  const manifest = c.arg === 'manifest';
  const out = sweep || manifest ? c.positionals[2] : c.arg;
  const schema = sweep
    ? (await import('../sweep/json-schema.js')).sweepJsonSchema()
    : manifest
      ? (await import('../training/manifest-schema.js')).trainerManifestJsonSchema()
      : experimentJsonSchema();
  if (out) writeFileSync(out, schema);
  else process.stdout.write(schema);
}

/**
 * Every check the workflow's loadExperiment makes (the same function), then what the sweep will train
 * on; warnings go to stderr and do not fail the command.
 */
async function validate(file: string): Promise<void> {
  const { raw } = readExperimentFile(file);
  const {
    experiment: x,
    subsets,
    warnings,
    capabilityQuestions,
    placeboSpec,
    aftSpec,
    cost,
    specTokens,
  } = await checkExperiment(raw, file);
  const arms = resolveArms(x.aft.arms);
  console.log(
    `${file}: valid (${x.aft.arms.length} arms: ${arms
      .map((a) => a.name)
      .join(', ')} × ${x.aft.fractions.length} fractions × ${x.aft.seeds.length} seeds)`,
  );
  for (const line of armLines(arms)) console.log(`  arm ${line}`);
  const target = describeTargetPlan(x.generation);
  if (target) console.log(`  corpus: ${target}`);
  console.log(`  AFT data: ${aftDataSource(x, aftSpec?.parsed.title)}`);
  if (x.baseModel.identity)
    console.log(`  identity: the corpus and AFT data speak of ${identityPhrase(x.baseModel.identity)}`);
  if (specTokens)
    console.log(
      `  spec tokens per variant (${x.baseModel.tokenizer} tokenizer; this experiment: ${x.specVariant}): ${variantTokensText(specTokens)}`,
    );
  const of =
    subsets.counted === 'aft.data'
      ? `of the ${subsets.examples} in ${x.aft.data}`
      : `of the ${subsets.examples} aft.generate.count plans`;
  console.log(
    `  AFT examples per fraction (${of}; aft.minExamples ${subsets.minExamples}, aft.minSteps ${subsets.minSteps ?? '—'}): ${formatFractionCounts(subsets.perFraction)}`,
  );
  console.log(
    `  subsets: ${subsets.subsetBySeed ? 'each seed draws its own (aft.subsetBySeed)' : 'one nested subset shared by every seed (aft.subsetBySeed: false)'}`,
  );
  if (placeboSpec)
    console.log(
      `  placebo: a second corpus about "${placeboSpec.parsed.title}" (${placeboSpec.path}), cut at the MSM corpus's token count, midtrained like msm`,
    );
  const seeds = x.midtrain.seeds;
  if (seeds.length > 1)
    console.log(
      `  midtraining: ${seeds.length} independent runs (midtrain.seeds ${seeds.join(', ')}), ${x.midtrain.corpusDraws === 'shared' ? 'all on one corpus draw' : 'each on its own corpus draw'}; arms that start from a midtraining run their cells once per seed, and the report resamples the runs`,
    );
  if (x.eval.capabilities?.length)
    console.log(
      `  capability checks, once per arm: ${x.eval.capabilities
        .map((c) =>
          c.questions
            ? `${c.name} (${capabilityQuestions?.[c.name]?.questions ?? '?'} questions)`
            : `${c.name} (${c.task}, ≤ ${c.limit} samples)`,
        )
        .join(', ')}`,
    );
  const t = cost.total;
  console.log(
    `  planned: API $${t.apiUsd.toFixed(2)}, ${t.gpuHours.toFixed(1)} GPU-hours ($${t.gpuUsd.toFixed(2)}), total $${t.usd.toFixed(2)}` +
      `${cost.budgetUsd !== undefined ? ` of budget.totalUsd $${cost.budgetUsd}` : ''}; per stage: msm plan ${file}`,
  );
  for (const w of warnings) console.error(`warning: ${w}`);
}

/**
 * The memory plan and the cost plan of an experiment file, as text or JSON; exit 3 when a job cannot fit or
 * the total exceeds budget.totalUsd. The cost plan is the one `msm validate` and the workflow check (from
 * every input read and checked); when that check refuses the file, from what can be read here.
 */
async function printPlan(file: string, json: boolean): Promise<number> {
  const { raw, experiment } = readExperimentFile(file);
  const baseDir = experimentBaseDir(experiment, PROJECT_ROOT);
  const plan = planFromDisk(experiment, baseDir);
  const cost = await checkExperiment(raw, file, undefined, { enforceBudget: false }).then(
    (c) => c.cost,
    () => costPlanFromDisk(experiment, baseDir, plan),
  );
  // What each arm trains, beside the memory it needs (the deliberative preset says what it is not).
  const arms = resolveArms(experiment.aft.arms).map((a) => ({ name: a.name, description: describeArm(a) }));
  const aftData = aftDataSource(experiment);
  console.log(
    json
      ? JSON.stringify({ ...plan, arms, aftData, cost }, null, 2)
      : [
          formatPlan(plan),
          ...arms.map((a) => `arm ${a.name}: ${a.description}`),
          `AFT data: ${aftData}`,
          formatCostPlan(cost),
        ].join('\n'),
  );
  const over = cost.budgetUsd !== undefined && cost.total.usd > cost.budgetUsd;
  return !plan.fits || over ? EXIT_DOES_NOT_FIT : 0;
}

/**
 * A file whose plan is above its budget.totalUsd starts nothing (the worker's loadExperiment refuses it too,
 * non-retryably): said here before any input is frozen.
 */
function refuseAboveBudget(x: Experiment, file: string): void {
  if (x.budget?.totalUsd !== undefined)
    assertWithinBudget(costPlanFromDisk(x, experimentBaseDir(x, PROJECT_ROOT)), file);
}

/** Generation controls live on the experiment's corpus child; accept either id (or the placebo corpus's, <id>.placebo-corpus). */
function corpusIdOf(id: string): string {
  return /\.(placebo-)?corpus$/.test(id) ? id : `${id}.corpus`;
}

function required(v: string | undefined, what: string): string {
  if (!v) throw new Error(`missing argument: ${what}\n\n${USAGE}`);
  return v;
}
