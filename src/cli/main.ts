import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { InvalidExperimentError } from '../config/experiment-schema';
import { experimentJsonSchema } from '../config/json-schema';
import { formatFractionCounts } from '../config/aft-subsets';
import { checkExperiment } from '../config/check-experiment';
import { loadExperimentFile, readExperimentFile } from '../config/load-experiment-file';
import { formatPlan, PlanRefusedError } from '../plan/plan';
import { experimentBaseDir, planFromDisk } from '../plan/plan-inputs';
import { ensureDevServer } from '../temporal/ensure-server';
import { PROJECT_ROOT } from '../util/project-paths';
import { approveUpdate, msmExperiment, pauseSignal, progressQuery, resumeSignal, setBudgetUpdate } from '../workflows';

const USAGE = `msm — Model Spec Midtraining experiments on Temporal

  msm demo                      start (or reuse) the dev server and a worker, run experiments/demo.json
  msm run <experiment>          the same for any experiment file (.json/.yaml)
  msm start <experiment>        start an experiment on a running server and worker; prints its id
  msm validate <experiment>     every check the workflow makes: schema, inputs, AFT examples per fraction, memory; prints every problem with its path and fix
  msm plan <experiment> [--json] GPU memory per job before anything is rented; exit 3 when a job cannot fit
  msm progress <workflow-id>    the experiment's progress (query)
  msm pause|resume <workflow-id>
  msm budget <workflow-id> <usd> raise the corpus generation budget (generation paused on it resumes)
  msm approve <workflow-id>     approve the previewed document stage (generation.requireApproval)
  msm server                    run the embedded Temporal dev server (state in .msm/temporal)
  msm worker                    run a worker for every task queue (see src/workers/main.ts for options)
  msm compare <out-dir> <results>...  compare experiments (spec variants): each a report folder or results.json
  msm schema [out.json]         export the experiment JSON Schema for editors

Options: --address host:port (default $TEMPORAL_ADDRESS or 127.0.0.1:7233), --id <workflow-id>`;

async function client(address: string): Promise<Client> {
  return new Client({ connection: await Connection.connect({ address }) });
}

function workflowIdFor(name: string, explicit?: string): string {
  return explicit ?? `msm-${name}`;
}

/** The worker stack (bundler, native bridge, activities) loads only for commands that run workers. */
async function startWorkers(address: string) {
  const { NativeConnection } = await import('@temporalio/worker');
  const { createWorkers, runWorkers } = await import('../workers/create-workers.js');
  (await import('../workers/console-logger.js')).installConsoleLogger(); // before the runtime exists
  const connection = await NativeConnection.connect({ address });
  return { connection, workers: await createWorkers({ connection }), runWorkers };
}

async function runExperiment(file: string, address?: string, id?: string): Promise<void> {
  const { raw, experiment } = loadExperimentFile(file);
  const server = address ? { address, uiUrl: '', started: false } : await ensureDevServer();
  console.log(server.started ? `started Temporal dev server at ${server.address}` : `using Temporal server at ${server.address}`);
  const { connection, workers, runWorkers } = await startWorkers(server.address);
  const running = runWorkers(workers);
  const c = await client(server.address);
  const workflowId = workflowIdFor(experiment.name, id);
  const handle = await c.workflow.start(msmExperiment, {
    taskQueue: 'msm',
    workflowId,
    args: [raw],
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: `MSM experiment ${experiment.name}`,
  });
  console.log(`experiment ${workflowId} running — Web UI: ${server.uiUrl || 'http://127.0.0.1:8233'}/namespaces/default/workflows/${workflowId}`);
  const ticker = setInterval(() => {
    handle.query(progressQuery).then(
      (p) => console.log(`  stage: ${p.stage}${p.corpus ? `, corpus ${p.corpus.documents} docs` : ''}${p.cells.length ? `, cells ${p.cells.filter((x) => x.status === 'done').length}/${p.cells.length}` : ''}`),
      () => undefined,
    );
  }, 15_000);
  try {
    const out = await handle.result();
    console.log('\nresults:');
    for (const cell of out.cells) console.log(`  ${cell.id.padEnd(22)} ${cell.k}/${cell.n} judged misaligned`);
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

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { address: { type: 'string' }, id: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  const [cmd, arg] = positionals;
  const address = values.address ?? process.env.TEMPORAL_ADDRESS;
  switch (cmd) {
    case 'demo':
      return runExperiment(path.join(PROJECT_ROOT, 'experiments', 'demo.json'), address, values.id);
    case 'run':
      return runExperiment(required(arg, 'an experiment file'), address, values.id);
    case 'start': {
      const { raw, experiment } = loadExperimentFile(required(arg, 'an experiment file'));
      const c = await client(address ?? '127.0.0.1:7233');
      const h = await c.workflow.start(msmExperiment, { taskQueue: 'msm', workflowId: workflowIdFor(experiment.name, values.id), args: [raw] });
      console.log(h.workflowId);
      return;
    }
    case 'validate':
      return validate(required(arg, 'an experiment file'));
    case 'plan':
      return printPlan(required(arg, 'an experiment file'), values.json === true);
    case 'progress':
      console.log(JSON.stringify(await (await client(address ?? '127.0.0.1:7233')).workflow.getHandle(required(arg, 'a workflow id')).query(progressQuery), null, 2));
      return;
    case 'pause':
    case 'resume':
      await (await client(address ?? '127.0.0.1:7233')).workflow.getHandle(required(arg, 'a workflow id')).signal(cmd === 'pause' ? pauseSignal : resumeSignal);
      console.log(`${cmd}d ${arg}`);
      return;
    case 'budget': {
      const usd = Number(positionals[2]);
      if (!(usd > 0)) throw new Error(`budget: give a positive number of USD, e.g. msm budget ${arg ?? '<workflow-id>'} 250`);
      const corpus = (await client(address ?? '127.0.0.1:7233')).workflow.getHandle(corpusIdOf(required(arg, 'a workflow id')));
      console.log(`budget of ${corpus.workflowId}: $${await corpus.executeUpdate(setBudgetUpdate, { args: [usd] })}`);
      return;
    }
    case 'approve': {
      const corpus = (await client(address ?? '127.0.0.1:7233')).workflow.getHandle(corpusIdOf(required(arg, 'a workflow id')));
      console.log(`approved ${corpus.workflowId}:\n${JSON.stringify(await corpus.executeUpdate(approveUpdate), null, 2)}`);
      return;
    }
    case 'server': {
      const s = await ensureDevServer();
      console.log(`Temporal at ${s.address}, Web UI ${s.uiUrl}${s.started ? '' : ' (already running)'}`);
      return;
    }
    case 'worker': {
      const { workers, runWorkers } = await startWorkers(address ?? '127.0.0.1:7233');
      await runWorkers(workers);
      return;
    }
    case 'compare': {
      const { compareResultFiles } = await import('../report/compare-files.js');
      for (const f of compareResultFiles(required(arg, 'an output folder'), positionals.slice(2))) console.log(f);
      return;
    }
    case 'schema': {
      const schema = experimentJsonSchema();
      if (arg) writeFileSync(arg, schema);
      else process.stdout.write(schema);
      return;
    }
    default:
      console.log(USAGE);
      if (cmd && !values.help) process.exitCode = 2;
  }
}

/**
 * Every check the workflow's loadExperiment makes (the same function), then what the sweep will train
 * on; warnings go to stderr and do not fail the command.
 */
async function validate(file: string): Promise<void> {
  const { raw } = readExperimentFile(file);
  const { experiment: x, subsets, warnings } = await checkExperiment(raw, file);
  console.log(`${file}: valid (${x.aft.arms.length} arms × ${x.aft.fractions.length} fractions × ${x.aft.seeds.length} seeds)`);
  const of = subsets.counted === 'aft.data' ? `of the ${subsets.examples} in ${x.aft.data}` : `of the ${subsets.examples} aft.generate.count plans`;
  console.log(`  AFT examples per fraction (${of}; aft.minExamples ${subsets.minExamples}): ${formatFractionCounts(subsets.perFraction)}`);
  console.log(`  subsets: ${subsets.subsetBySeed ? 'each seed draws its own (aft.subsetBySeed)' : 'one nested subset shared by every seed (aft.subsetBySeed: false)'}`);
  for (const w of warnings) console.error(`warning: ${w}`);
}

/** Exit status of `msm plan` (and of any command refused by the planner) when a job cannot fit. */
const EXIT_DOES_NOT_FIT = 3;

/** The memory plan of an experiment file, as lines or JSON; exit 3 when a job cannot fit. */
function printPlan(file: string, json: boolean): void {
  const { experiment } = readExperimentFile(file);
  const plan = planFromDisk(experiment, experimentBaseDir(experiment, PROJECT_ROOT));
  console.log(json ? JSON.stringify(plan, null, 2) : formatPlan(plan));
  if (!plan.fits) process.exitCode = EXIT_DOES_NOT_FIT;
}

/** Generation controls live on the experiment's corpus child; accept either id. */
function corpusIdOf(id: string): string {
  return id.endsWith('.corpus') ? id : `${id}.corpus`;
}

function required(v: string | undefined, what: string): string {
  if (!v) throw new Error(`missing argument: ${what}\n\n${USAGE}`);
  return v;
}

main(process.argv.slice(2)).catch((err) => {
  if (err instanceof PlanRefusedError) {
    console.error(err.message);
    process.exit(EXIT_DOES_NOT_FIT);
  }
  if (err instanceof InvalidExperimentError) console.error(err.message);
  else if (err instanceof WorkflowFailedError) console.error(`experiment failed: ${err.cause?.message ?? err.message}`);
  else console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
