import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobFolder, JobFolders } from '../../src/compute/job-folder';
import { localShell } from '../../src/compute/shell';
import type { TrainerJobManifest } from '../../src/training/job';
import { waitUntil } from '../helpers/scripted-experiment';
import { alive } from '../helpers/process-alive';

/**
 * The job folder's wrapper (job-folder.sh). Its watchdog: a job that no worker polls for
 * compute.unpolledTimeoutSec stops itself; one that is polled keeps running. Its exit status under torchrun:
 * a rank's refusal of its input is exit 2 even when torchrun ended rank 0 before rank 0 reported it. Stand-ins
 * (a trainer package that only sleeps; a python whose torchrun exits as a refused job's does) keep this fast:
 * the protocol, not the trainer, is under test.
 */
let root: string;
let jobs: JobFolders;

// A manifest the trainer's schema accepts (launch checks it), though the stand-in trainer never reads it.
const manifest = (jobId: string): TrainerJobManifest => ({
  kind: 'generate',
  jobId,
  baseModel: { init: 'random' },
  tokenizerUri: 'file:///unused/tokenizer.json',
  promptsUri: 'file:///unused/prompts.jsonl',
  checkpointPrefix: `file:///unused/${jobId}/checkpoints`,
  outputUri: `file:///unused/${jobId}/out`,
  seed: 0,
});
const pidOf = (jobId: string) => Number(readFileSync(path.join(jobFolder(root, jobId), 'pid'), 'utf8').split(' ')[0]);

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'msm-watchdog-test-'));
  const pkg = path.join(root, 'trainer', 'msm_trainer');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(path.join(pkg, '__init__.py'), '');
  writeFileSync(
    path.join(pkg, '__main__.py'),
    'import time\nprint(\'{"event": "progress", "step": 0}\', flush=True)\ntime.sleep(600)\n',
  );
  jobs = new JobFolders({
    shell: localShell,
    root,
    trainerDir: path.join(root, 'trainer'),
    python: 'python3',
    env: {
      MSM_UNPOLLED_TIMEOUT_SEC: '2',
      MSM_UNPOLLED_COMMAND: `echo stopped > ${path.join(root, 'machine-stopped')}`,
    },
    cancelGraceMs: 2000,
  });
});

afterAll(async () => {
  for (const id of ['watched', 'forgotten']) await jobs.cancel(id).catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
});

describe('job folder watchdog (compute.unpolledTimeoutSec)', () => {
  it('stops a job nobody polls, runs the stop command, and leaves a polled job running', async () => {
    await jobs.launch(manifest('watched'));
    await jobs.launch(manifest('forgotten'));
    const [watched, forgotten] = [pidOf('watched'), pidOf('forgotten')];
    // Only "watched" is polled, every half second, for longer than the timeout.
    const until = Date.now() + 5000;
    while (Date.now() < until) {
      expect((await jobs.poll('watched', 0)).state).toBe('running');
      await new Promise((r) => setTimeout(r, 500));
    }
    await waitUntil(() => !alive(forgotten), 10_000, 'the unpolled job to stop itself');
    expect(alive(watched)).toBe(true);
    const dir = jobFolder(root, 'forgotten');
    expect(existsSync(path.join(dir, 'unpolled'))).toBe(true);
    expect(readFileSync(path.join(dir, 'stderr.log'), 'utf8')).toMatch(/no worker polled this job for over 2 s/);
    await waitUntil(() => existsSync(path.join(root, 'machine-stopped')), 5000, 'the stop command to run');
    // A worker that comes back finds the job ended (lost: resumed from its checkpoint by the next attempt).
    expect((await jobs.poll('forgotten', 0)).state).toBe('lost');
  }, 30_000);
});

describe('job folder wrapper under torchrun', () => {
  /**
   * A python whose torchrun behaves as when rank 1 refuses its input first: that rank leaves its note
   * (trainer/msm_trainer/cli.py `_refuse`), torchrun ends rank 0 before rank 0 prints its error event, and
   * exits 1. Any other call (the launcher's setsid) goes to the real python.
   */
  const refusedTorchrun = (message: string | undefined) =>
    [
      '#!/bin/sh',
      'if [ "$1" = -m ] && [ "$2" = torch.distributed.run ]; then',
      '  printf \'{"event": "progress", "step": 0}\\n{"event": "prog\' # rank 0 ended mid-line',
      ...(message
        ? [`  printf '{"event": "error", "message": "${message}", "retryable": false}\\n' > "$MSM_REFUSAL_FILE"`]
        : []),
      '  exit 1',
      'fi',
      'exec python3 "$@"',
    ].join('\n');

  const twoRanks = async (name: string, message: string | undefined) => {
    const python = path.join(root, `python-${name}`);
    writeFileSync(python, refusedTorchrun(message), { mode: 0o755 });
    const folders = new JobFolders({
      shell: localShell,
      root,
      trainerDir: path.join(root, 'trainer'),
      python,
      cancelGraceMs: 2000,
    });
    await folders.launch({ ...manifest(name), world: { nodes: 1, procsPerNode: 2 } });
    await waitUntil(async () => (await folders.poll(name, 0)).state === 'exited', 10_000, 'the job to exit');
    return folders.poll(name, 0);
  };

  it("maps a rank's refusal to exit 2 and reports it as the job's error event", async () => {
    const s = await twoRanks('refused', 'rank 1: the data has no rows');
    expect(s.exitCode).toBe(2);
    expect(s.events.at(-1)).toEqual({ event: 'error', message: 'rank 1: the data has no rows', retryable: false });
  }, 20_000);

  it('leaves a failure without a refusal retryable (exit 1)', async () => {
    const s = await twoRanks('failed', undefined);
    expect(s.exitCode).toBe(1);
    expect(s.events.some((e) => e.event === 'error')).toBe(false);
  }, 20_000);
});
