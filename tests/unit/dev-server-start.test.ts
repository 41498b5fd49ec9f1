import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTemporalCli } from '../../src/temporal/cli-binary';
import { DevServerExitedError, freePort, startDevServer } from '../../src/temporal/dev-server';
import { TOOLS_DIR } from '../../src/util/project-paths';

/**
 * Starting the dev server when a port is taken: tests start many servers side by side, and the CLI draws its
 * HTTP, metrics and internal ports at random, so a start can lose a race for a port.
 */
let dir: string;
let held: net.Server;
let heldPort: number;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'msm-dev-server-start-'));
  heldPort = await freePort();
  // Whoever holds the port accepts and drops connections (the start's health checks connect to it).
  held = net.createServer((socket) => socket.destroy());
  await new Promise<void>((r) => held.listen(heldPort, '127.0.0.1', r));
});
afterAll(async () => {
  await new Promise((r) => held.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('startDevServer', () => {
  it('fails at once, with the log in the error, when its own port is taken (no retry can help)', async () => {
    const error = await startDevServer({
      cli: ensureTemporalCli(TOOLS_DIR),
      stateDir: dir,
      port: heldPort,
      uiPort: await freePort(),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DevServerExitedError);
    const exited = error as DevServerExitedError;
    expect(exited.portTaken(heldPort)).toBe(true);
    expect(exited.message).toContain(`${heldPort}`);
    expect(exited.message).toMatch(/address already in use/);
    // One attempt only: a second would have written the same failure twice.
    expect(exited.log.match(/address already in use/g)).toHaveLength(1);
  }, 60_000);

  it('draws distinct free ports below the ephemeral range that outgoing connections use', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    expect(new Set(ports).size).toBe(20);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(20_000);
      expect(port).toBeLessThan(32_768);
    }
    expect(ports).not.toContain(heldPort);
  });
});
