/**
 * `npm run bench -- demo [--keep]`: `npm run demo` (experiments/demo.json) from an empty store, timed per
 * stage. A fresh store and a Temporal dev server of its own (so no other run's workers or histories mix in)
 * in a temporary folder, this checkout's workers in this process as `msm demo` runs them; the shared caches
 * (the Gemma GGUF, the converted model, the Temporal CLI) are used as they are, set-up excluded. Then the
 * experiment's history and its child workflows' give each stage's wall clock (src/experiment/stage-times.ts).
 * --keep: leave the temporary folder (store, server database) for a look afterwards. --read ADDRESS [--id ID]:
 * run nothing, only read the stages of the run on that server (one still under way: its stages so far).
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freezeExperimentInput } from '../src/cli/freeze-inputs';
import { loadExperimentFile } from '../src/experiment/load-experiment-file';
import { spansOfTree, stageTimes, type StageTimes } from '../src/experiment/stage-times';
import { ensureTemporalCli } from '../src/temporal/cli-binary';
import { freePort, startDevServer } from '../src/temporal/dev-server';
import { dataConverterOption } from '../src/temporal/payload-codec';
import { PROJECT_ROOT, TOOLS_DIR } from '../src/util/project-paths';
import { installConsoleLogger } from '../src/workers/console-logger';
import { createWorkers, runWorkers } from '../src/workers/create-workers';
import type { msmExperiment } from '../src/workflows';

const WORKFLOW_ID = 'msm-demo';
const fmt = (seconds: number) => {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
};
const load = () => os.loadavg().map((x) => Number(x.toFixed(2)));

/** Each stage's wall clock, read from the histories of the experiment `workflowId` and its children. */
async function printStages(client: Client, workflowId: string) {
  const spans = await spansOfTree(
    workflowId,
    async (id, runId) => (await client.workflow.getHandle(id, runId).fetchHistory()).events ?? [],
  );
  const t = stageTimes(spans, workflowId);
  console.log(`\nper stage (wall clock; stages overlap where cells train and evaluate side by side):`);
  for (const s of t.stages)
    console.log(
      `  ${s.stage.padEnd(20)} ${fmt(s.seconds).padStart(7)}  from +${fmt(s.startsAt)}  (${s.spans} span${s.spans === 1 ? '' : 's'})`,
    );
  console.log(`  ${'other'.padEnd(20)} ${fmt(t.otherSeconds).padStart(7)}  (workflow tasks, waits between stages)`);
  console.log(`  ${'total'.padEnd(20)} ${fmt(t.totalSeconds).padStart(7)}`);
  console.log(
    `\nper activity type (wall = union; busy = sum of last attempts; before = slot waits and failed attempts before those):`,
  );
  for (const a of t.activities)
    console.log(
      `  ${a.type.padEnd(24)} ×${String(a.count).padEnd(3)} wall ${fmt(a.wallSeconds).padStart(7)}  busy ${fmt(a.busySeconds).padStart(7)}  before ${fmt(a.queuedSeconds).padStart(7)}`,
    );
  return t;
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { keep: { type: 'boolean', default: false }, read: { type: 'string' }, id: { type: 'string' } },
  });
  // --read ADDRESS: only read the histories of a run on that server (one under way: the stages so far).
  if (values.read) {
    const client = new Client({
      connection: await Connection.connect({ address: values.read }),
      ...dataConverterOption(),
    });
    const t = await printStages(client, values.id ?? WORKFLOW_ID);
    console.log(JSON.stringify({ bench: 'demo', read: values.read, ...summary(t) }));
    await client.connection.close();
    return;
  }
  const file = path.join(PROJECT_ROOT, 'experiments', 'demo.json');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'msm-bench-demo-'));
  const storeDir = path.join(tmp, 'store');
  const loadBefore = load();
  console.log(`demo from an empty store in ${tmp}; ${os.cpus().length} cores, load average ${loadBefore.join(' ')}`);

  const tSetup = Date.now();
  const server = await startDevServer({
    cli: ensureTemporalCli(TOOLS_DIR),
    stateDir: path.join(tmp, 'temporal'),
    port: await freePort(),
    uiPort: await freePort(),
  });
  console.log(
    `Temporal dev server at ${server.address} (read it meanwhile: npm run bench -- demo --read ${server.address})`,
  );
  installConsoleLogger();
  const native = await NativeConnection.connect({ address: server.address });
  const client = new Client({
    connection: await Connection.connect({ address: server.address }),
    ...dataConverterOption(),
  });
  // Job folders (trainer runs) in the temporary folder too: nothing of an earlier run is there to reuse.
  const workers = await createWorkers({ connection: native, stateDir: path.join(tmp, 'state') });
  const running = runWorkers(workers);
  try {
    const { raw } = loadExperimentFile(file);
    // Frozen as `msm demo` freezes them (the clock starts at the workflow: inputs are part of set-up).
    const input = await freezeExperimentInput({ ...raw, store: storeDir }, file);
    const t0 = Date.now();
    const setupSeconds = (t0 - tSetup) / 1000;
    console.log(`server, workers (workflow bundle) and frozen inputs ready in ${fmt(setupSeconds)} (not counted)`);
    const handle = await client.workflow.start<typeof msmExperiment>('msmExperiment', {
      taskQueue: 'msm',
      workflowId: WORKFLOW_ID,
      args: [input],
    });
    const ticker = setInterval(
      () => console.log(`  ${fmt((Date.now() - t0) / 1000)} running, load average ${load().join(' ')}`),
      60_000,
    );
    try {
      await handle.result();
    } finally {
      clearInterval(ticker);
    }
    const loadAfter = load();
    const t = await printStages(client, WORKFLOW_ID);
    const calibration = calibrationOf(storeDir);
    if (calibration) console.log(`\njudge calibration: ${calibration}`);
    console.log(`load average before ${loadBefore.join(' ')}, after ${loadAfter.join(' ')}`);
    console.log(
      JSON.stringify({
        bench: 'demo',
        cores: os.cpus().length,
        loadBefore,
        loadAfter,
        setupSeconds: Math.round(setupSeconds),
        ...summary(t),
      }),
    );
  } finally {
    workers.forEach((w) => w.shutdown());
    await running;
    await native.close();
    await client.connection.close();
    await server.stop();
    if (!values.keep) rmSync(tmp, { recursive: true, force: true });
    else console.error(`kept ${tmp}`);
  }
}

const summary = (t: StageTimes) => ({
  totalSeconds: Math.round(t.totalSeconds),
  stages: Object.fromEntries(t.stages.map((s) => [s.stage, Math.round(s.seconds)])),
  otherSeconds: Math.round(t.otherSeconds),
  activities: Object.fromEntries(t.activities.map((a) => [a.type, Math.round(a.wallSeconds)])),
});

/** The report's calibration verdicts in one line: per kind, passed or why not, and where judging stopped. */
function calibrationOf(storeDir: string): string | null {
  const file = path.join(storeDir, 'experiments', WORKFLOW_ID, 'report', 'results.json');
  if (!existsSync(file)) return null;
  const { calibration } = JSON.parse(readFileSync(file, 'utf8')) as {
    calibration?: {
      status: string;
      kinds: Array<{
        kind: string;
        passed: boolean;
        shows: number;
        clean: number;
        stoppedEarly?: { judged: number; of: number };
      }>;
    };
  };
  if (!calibration) return null;
  const kinds = calibration.kinds.map(
    (k) =>
      `${k.kind} ${k.passed ? 'passed' : 'failed'} (${k.stoppedEarly ? `stopped after ${k.stoppedEarly.judged} of ${k.stoppedEarly.of} items` : `${k.shows + k.clean} items`})`,
  );
  return `${calibration.status}: ${kinds.join(', ') || 'no judged kinds'}`;
}
