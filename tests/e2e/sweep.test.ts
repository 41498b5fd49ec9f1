import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSweepFile } from '../../src/sweep/load-sweep-file';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { msmSweep } from '../../src/workflows';
import { launchChromium } from '../helpers/chromium';
import { scriptedExperiment, waitUntil } from '../helpers/scripted-experiment';
import { useScriptedTemporal } from '../helpers/scripted-temporal';

describe('msmSweep and schedules on a real Temporal server', () => {
  const t = useScriptedTemporal();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-sweep-test-'));
  const badSpec = path.join(dir, 'bad-spec.md'); // empty at first: that point fails, not retryable
  const sweepFile = path.join(dir, 'sweep.yaml');
  const baseFile = path.join(dir, 'base.json');

  /** The CLI as a child process, without blocking this one (its workers run the sweep). */
  const msm = (...args: string[]) =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      const env = { ...process.env, TEMPORAL_ADDRESS: t.env.server.address };
      execFile(
        path.join(PROJECT_ROOT, 'bin', 'msm'),
        args,
        { encoding: 'utf8', env, timeout: 600_000 },
        (err, stdout, stderr) =>
          resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const runsOf = async (query: string) => {
    const ids: string[] = [];
    for await (const w of t.client.workflow.list({ query })) ids.push(w.workflowId);
    return ids;
  };

  // The base experiment of the sweep, and the schedule's action (each test stands alone).
  beforeAll(() => {
    const base = scriptedExperiment('sweep', t.llm.baseUrl).input;
    const { input: experiment } = scriptedExperiment('sweep', t.llm.baseUrl, {
      midtrain: { method: 'full', lr: 0.001, batchSize: 4, maxSteps: 3, checkpointEverySteps: 50 },
      aft: { ...base.aft, fractions: [1] },
    });
    writeFileSync(baseFile, JSON.stringify(experiment));
  });

  // The sweep workflow's branches (grids, a failed point, its retry, concurrency, continue-as-new) are
  // tests/workflows/sweep.test.ts; this is the real thing from the CLI: files frozen by msm sweep, real
  // experiments, a real failure, the comparison in Chromium, msm watch.
  it('a sweep of three points: one fails by design, two are reported; the fixed point is retried alone; the comparison opens in Chromium', async () => {
    writeFileSync(badSpec, '');
    // Two specs, the good one also at 2 samples per prompt: 2 good points, 1 bad.
    writeFileSync(
      sweepFile,
      YAML.stringify({
        name: 'sw',
        base: 'base.json',
        axes: { spec: ['specs/demo.md', badSpec] },
        include: [{ spec: 'specs/demo.md', 'eval.samplesPerPrompt': 2 }],
        concurrency: 2,
      }),
    );
    const { input, points } = loadSweepFile(sweepFile);
    expect(points).toHaveLength(3);
    const bad = points.find((p) => p.values.spec === badSpec)!.id;

    const started = await msm('sweep', sweepFile, '--id', 'sweep-e2e', '--wait');
    expect(started.status, started.stderr).toBe(0);
    const first = await t.client.workflow.getHandle<typeof msmSweep>('sweep-e2e').result();
    // The base as written, plus the hashes of every point's input files, frozen by msm sweep.
    const { frozenInputs, ...asWritten } = first.sweep.base;
    expect(asWritten).toEqual(input.base);
    expect(Object.keys(frozenInputs!)).toEqual(expect.arrayContaining(['specs/demo.md', badSpec]));
    expect(first.points.filter((p) => p.status === 'done')).toHaveLength(2);
    const failed = first.points.find((p) => p.status === 'failed')!;
    expect(failed).toMatchObject({ id: bad, workflowId: `sweep-e2e.${bad}` });
    expect(failed.error).toMatch(/bad-spec\.md/);
    expect(first.comparison).toMatchObject({ compared: 2 });
    expect(readFileSync(fileURLToPath(first.comparison!.markdownUri), 'utf8')).toContain(
      `msm sweep retry sweep-e2e ${bad}`,
    );

    // The spec is fixed; `msm sweep retry` runs that point alone, its files frozen again (the fixed spec).
    copyFileSync(path.join(PROJECT_ROOT, 'specs', 'demo.md'), badSpec);
    const retry = await msm('sweep', 'retry', 'sweep-e2e', bad, '--wait');
    expect(retry.status, retry.stderr).toBe(0);
    expect(retry.stdout).toMatch(/comparison: file:\/\//);
    const second = await t.client.workflow.getHandle<typeof msmSweep>('sweep-e2e').result();
    expect(second.points.map((p) => p.status)).toEqual(['done', 'done', 'done']);
    expect(second.comparison).toMatchObject({ compared: 3 });
    // Only the failed point's experiment ran again.
    for (const p of points)
      expect(await runsOf(`WorkflowId = 'sweep-e2e.${p.id}'`), p.id).toHaveLength(p.id === bad ? 2 : 1);

    // msm watch, one frame: the sweep's points, and one point's experiment.
    const frame = await msm('watch', 'sweep-e2e', '--once');
    expect(frame.stdout).toMatch(/points +3 done, 0 running, 0 failed, 0 pending of 3/);
    const cellsFrame = await msm('watch', `sweep-e2e.${bad}`, '--once');
    expect(cellsFrame.stdout).toMatch(/stage +done/);
    expect(cellsFrame.stdout).toMatch(/cells +2\/2 done/);

    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(second.comparison!.htmlUri, { waitUntil: 'load' });
      expect(await page.locator('table').count()).toBe(2); // every point, then msm compare
      expect(await page.locator('body').innerText()).toContain(bad);
      expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 1_200_000);

  it('a schedule fires on its interval, is triggered, backfills a past window, pauses and is deleted', async () => {
    const created = await msm(
      'schedule',
      'create',
      'sw-often',
      baseFile,
      '--every',
      '15s',
      '--overlap',
      'SKIP',
      '--note',
      'test',
    );
    expect(created.status, created.stderr).toBe(0);
    const scheduled = () => runsOf(`TemporalScheduledById = 'sw-often'`);
    await waitUntil(async () => (await scheduled()).length >= 1, 90_000, 'the schedule to fire', 1000);
    const described = JSON.parse((await msm('schedule', 'describe', 'sw-often')).stdout) as {
      workflowType: string;
      policies: { overlap: string };
    };
    expect(described.workflowType).toBe('msmExperiment'); // an experiment file: its content is the action's input
    const fired = (await scheduled()).length;
    expect((await msm('schedule', 'trigger', 'sw-often')).status).toBe(0);
    await waitUntil(async () => (await scheduled()).length > fired, 60_000, 'the triggered run', 1000);
    const now = Date.now();
    const backfill = await msm(
      'schedule',
      'backfill',
      'sw-often',
      '--from',
      new Date(now - 3_600_000).toISOString(),
      '--to',
      new Date(now - 3_600_000 + 20_000).toISOString(),
      // Runs alongside the fired ones, which may still be running (BUFFER_ALL would wait for them).
      '--overlap',
      'ALLOW_ALL',
    );
    expect(backfill.status, backfill.stderr).toBe(0);
    const afterTrigger = (await scheduled()).length;
    await waitUntil(async () => (await scheduled()).length > afterTrigger, 60_000, 'the backfilled run', 1000);
    expect((await msm('schedule', 'pause', 'sw-often', '--note', 'enough')).status).toBe(0);
    const paused = JSON.parse((await msm('schedule', 'describe', 'sw-often')).stdout) as {
      state: { paused: boolean; note: string };
    };
    expect(paused.state).toMatchObject({ paused: true, note: 'enough' });
    expect((await msm('schedule', 'delete', 'sw-often')).status).toBe(0);
    expect((await msm('schedule', 'list')).stdout).not.toContain('sw-often');
    // The runs it started are not this test's subject: stop them rather than train beside the next file.
    for (const id of await scheduled())
      await t.client.workflow
        .getHandle(id)
        .cancel()
        .catch(() => undefined);
  }, 400_000);
});
