import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { msmExperiment } from '../../src/workflows';
import { scriptedExperiment } from '../helpers/scripted-experiment';
import { startTemporalWithWorkers, type TemporalTestEnv } from '../helpers/in-process-workers';

/** Bad input fails the experiment at once, non-retryably, with a message that says what to fix. */
describe('bad input on a real Temporal server', () => {
  let env: TemporalTestEnv;
  let client: Client;

  beforeAll(async () => {
    env = await startTemporalWithWorkers();
    client = env.client;
  });

  afterAll(async () => {
    await env?.close();
  });

  async function failureOf(workflowId: string, input: unknown): Promise<ApplicationFailure> {
    const started = Date.now();
    const err = await client.workflow
      .execute(msmExperiment, { taskQueue: 'msm', workflowId, args: [input as never] })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    // No endless retries: the failure arrives within seconds, from the first attempt.
    expect(Date.now() - started).toBeLessThan(30_000);
    let cause = (err as WorkflowFailedError).cause as Error | undefined;
    while (cause && !(cause instanceof ApplicationFailure)) cause = cause.cause as Error | undefined;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    const failure = cause as ApplicationFailure;
    expect(failure.type).toBe('BadInput');
    expect(failure.nonRetryable).toBe(true);
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const attempts = history
      .events!.filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
    expect(attempts).toEqual([1]);
    return failure;
  }

  it('an invalid experiment names every bad field and how to fix it', async () => {
    const { input } = scriptedExperiment('bad-exp', 'http://127.0.0.1:9/v1');
    const bad = { ...input, name: 'has spaces', aft: { ...input.aft, fractions: [40] }, unknownKey: true };
    const f = await failureOf('bad-experiment', bad);
    expect(f.message).toContain('name: use letters, digits');
    expect(f.message).toContain('aft.fractions.0: a fraction must be <= 1 (write 1/40, not 40)');
    expect(f.message).toContain('unknownKey');
  });

  it('a malformed spec fails with the line and the fix', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-badspec-'));
    const spec = path.join(dir, 'spec.md');
    writeFileSync(spec, 'Just a paragraph, no title and no sections.\n');
    const { input } = scriptedExperiment('bad-spec', 'http://127.0.0.1:9/v1', { spec });
    const f = await failureOf('bad-spec', input);
    expect(f.message).toMatch(/spec .*spec\.md: .*line \d+/i);
  });

  it('a missing spec file names the path', async () => {
    const { input } = scriptedExperiment('no-spec', 'http://127.0.0.1:9/v1', { spec: 'specs/does-not-exist.md' });
    const f = await failureOf('missing-spec', input);
    expect(f.message).toContain('does-not-exist.md');
    expect(f.message).toContain('fix the path');
  });
});
