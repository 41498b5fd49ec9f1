/**
 * Save the event histories of an experiment and all its child workflows as JSON, for replay tests:
 *   node --import tsx scripts/record-histories.ts <address> <workflow-id> <out-dir>
 * Each file is named by its workflow id: the replay test passes it back as the id, which child workflow
 * ids are derived from.
 * Uses `temporal workflow show --output json`, whose format historyFromJSON reads back.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureTemporalCli } from '../src/temporal/cli-binary';
import { startTemporalWithWorkers, type TemporalTestEnv } from '../tests/helpers/in-process-workers';
import { startScriptedLlmServer } from '../tests/helpers/scripted-llm-server';
import { TOOLS_DIR } from '../src/util/project-paths';

interface HistoryJson {
  events: Array<{ startChildWorkflowExecutionInitiatedEventAttributes?: { workflowId?: string } }>;
}

/** Write the history of `rootId` and of every child it started (recursively) to `<outDir>/<id>.json`. */
export function recordHistories(address: string, rootId: string, outDir: string): void {
  const cli = ensureTemporalCli(TOOLS_DIR);
  mkdirSync(outDir, { recursive: true });
  const queue = [rootId];
  const seen = new Set<string>();
  for (let id = queue.shift(); id; id = queue.shift()) {
    if (seen.has(id)) continue;
    seen.add(id);
    const json = execFileSync(
      cli,
      ['workflow', 'show', '--address', address, '--workflow-id', id, '--output', 'json'],
      {
        encoding: 'utf8',
        maxBuffer: 256 * 1024 * 1024,
      },
    );
    const history = JSON.parse(json) as HistoryJson;
    for (const e of history.events) {
      const child = e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
      if (child) queue.push(child);
    }
    if (!/^[a-zA-Z0-9._-]+$/.test(id))
      throw new Error(`workflow id ${id} cannot be a file name: record a run with a plainer id`);
    const file = path.join(outDir, `${id}.json`);
    writeFileSync(file, json.endsWith('\n') ? json : json + '\n');
    console.log(`${id} -> ${file} (${history.events.length} events)`);
  }
}

/**
 * For the record-*.ts scripts: a fresh dev server with in-process workers and a scripted LLM server, `run`
 * (which starts `workflowId` and waits for it), then the histories of its tree into argv[2] or tests/histories.
 */
export function recordScriptedRun(
  workflowId: string,
  run: (env: TemporalTestEnv, llmBaseUrl: string) => Promise<unknown>,
  llmOptions: Parameters<typeof startScriptedLlmServer>[0] = {},
): void {
  const outDir = process.argv[2] ?? 'tests/histories';
  const main = async () => {
    const llm = await startScriptedLlmServer(llmOptions);
    const env = await startTemporalWithWorkers();
    try {
      await run(env, llm.baseUrl);
      recordHistories(env.server.address, workflowId, outDir);
    } finally {
      await env.close();
      await llm.close();
    }
  };
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

if (require.main === module) {
  const [address, rootId, outDir] = process.argv.slice(2);
  if (!address || !rootId || !outDir) throw new Error('usage: record-histories.ts <address> <workflow-id> <out-dir>');
  recordHistories(address, rootId, outDir);
}
