import path from 'node:path';
import { ensureTemporalCli } from './cli-binary';
import { isPortOpen, startDevServer } from './dev-server';
import { STATE_DIR, TOOLS_DIR } from '../util/project-paths';

export const DEFAULT_PORT = 7233;
export const DEFAULT_UI_PORT = 8233;

/** Reuse a Temporal server already listening on the port, else start the embedded dev server (detached). */
export async function ensureDevServer(
  port = DEFAULT_PORT,
  uiPort = DEFAULT_UI_PORT,
): Promise<{ address: string; uiUrl: string; started: boolean }> {
  const address = `127.0.0.1:${port}`;
  const uiUrl = `http://127.0.0.1:${uiPort}`;
  if (await isPortOpen(port)) return { address, uiUrl, started: false };
  const cli = ensureTemporalCli(TOOLS_DIR);
  // MSM_CODEC_ENDPOINT: the Web UI shows encrypted payloads through `msm codec-server` (docs/security.md).
  const uiCodecEndpoint = process.env.MSM_CODEC_ENDPOINT || undefined;
  await startDevServer({
    cli,
    stateDir: path.join(STATE_DIR, 'temporal'),
    port,
    uiPort,
    uiCodecEndpoint,
    detached: true,
  });
  return { address, uiUrl, started: true };
}
