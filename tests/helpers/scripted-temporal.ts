import type { Client } from '@temporalio/client';
import { afterAll, beforeAll } from 'vitest';
import type { TrainerActivityDeps } from '../../src/activities/trainer-activities';
import { startTemporalWithWorkers, type TemporalTestEnv } from './in-process-workers';
import { startScriptedLlmServer } from './scripted-llm-server';

export interface ScriptedTemporal {
  llm: Awaited<ReturnType<typeof startScriptedLlmServer>>;
  env: TemporalTestEnv;
  client: Client;
}

/**
 * For a describe block: a scripted OpenAI-compatible server and a real Temporal server with in-process
 * workers, started before its tests and closed after them. Read the fields inside tests (they are set in
 * beforeAll).
 */
export function useScriptedTemporal(deps: TrainerActivityDeps = {}): ScriptedTemporal {
  const t = {} as ScriptedTemporal;
  beforeAll(async () => {
    t.llm = await startScriptedLlmServer();
    t.env = await startTemporalWithWorkers(deps);
    t.client = t.env.client;
  });
  afterAll(async () => {
    await t.env?.close();
    await t.llm?.close();
  });
  return t;
}
