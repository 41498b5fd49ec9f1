/**
 * Save the event histories of an experiment and all its child workflows as JSON, for replay tests:
 *   node --import tsx scripts/record-histories.ts <address> <workflow-id> <out-dir> [name-prefix]
 */
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

async function main() {
  const [address, rootId, outDir, prefix = rootId] = process.argv.slice(2);
  if (!address || !rootId || !outDir) throw new Error('usage: record-histories.ts <address> <workflow-id> <out-dir> [name-prefix]');
  const client = new Client({ connection: await Connection.connect({ address }) });
  mkdirSync(outDir, { recursive: true });
  const queue = [rootId];
  for (let id = queue.shift(); id; id = queue.shift()) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    for (const e of history.events ?? []) {
      const child = e.startChildWorkflowExecutionInitiatedEventAttributes;
      if (child?.workflowId) queue.push(child.workflowId);
    }
    const file = path.join(outDir, `${prefix}${id.slice(rootId.length) || ''}.json`.replace(/[^a-zA-Z0-9._-]/g, '_'));
    writeFileSync(file, historyToJSON(history) + '\n');
    console.log(`${id} -> ${file} (${history.events?.length} events)`);
  }
  await client.connection.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
