import { Connection } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { SEARCH_ATTRIBUTE_FLAGS } from '../workflows/search-attributes';

export interface DevServerOptions {
  cli: string;
  /** Folder for the SQLite database and the log; the database survives restarts. */
  stateDir: string;
  ip?: string;
  port: number;
  uiPort: number;
  namespace?: string;
  /** More namespaces to create at start. */
  extraNamespaces?: string[];
  /** Register msm's search attributes at start (default true; false stands for a bare cluster). */
  searchAttributes?: boolean;
}

export interface DevServer {
  address: string;
  uiUrl: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function isPortOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Does a Temporal frontend answer at `address` (Connection.connect calls GetSystemInfo)? */
async function answers(address: string): Promise<boolean> {
  try {
    const c = await Connection.connect({ address, connectTimeout: 2_000 });
    await c.close();
    return true;
  } catch {
    return false;
  }
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * Start `temporal server start-dev` with a persistent SQLite file and this project's search attributes.
 * `detached` keeps it running after this process exits (the demo reuses it next time).
 */
export async function startDevServer(opts: DevServerOptions & { detached?: boolean }): Promise<DevServer> {
  const ip = opts.ip ?? '127.0.0.1';
  mkdirSync(opts.stateDir, { recursive: true });
  const log = openSync(path.join(opts.stateDir, 'server.log'), 'a');
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    path.join(opts.stateDir, 'temporal.db'),
    '--ip',
    ip,
    '--port',
    String(opts.port),
    '--ui-port',
    String(opts.uiPort),
    '--namespace',
    opts.namespace ?? 'default',
    ...(opts.extraNamespaces ?? []).flatMap((n) => ['--namespace', n]),
    '--log-level',
    'warn',
    ...(opts.searchAttributes === false ? [] : SEARCH_ATTRIBUTE_FLAGS.flatMap((f) => ['--search-attribute', f])),
  ];
  const child = spawn(opts.cli, args, { stdio: ['ignore', log, log], detached: !!opts.detached });
  if (opts.detached) child.unref();
  let exited = false;
  child.once('exit', () => (exited = true));
  await waitFor(
    async () => {
      if (exited) throw new Error(`temporal server exited at start; see ${path.join(opts.stateDir, 'server.log')}`);
      return isPortOpen(opts.port, ip);
    },
    60_000,
    `Temporal dev server on ${ip}:${opts.port}`,
  );
  // The port opens before the frontend serves ("Frontend is not healthy yet"): wait until it answers.
  await waitFor(
    async () => {
      if (exited) throw new Error(`temporal server exited at start; see ${path.join(opts.stateDir, 'server.log')}`);
      return answers(`${ip}:${opts.port}`);
    },
    60_000,
    `Temporal frontend on ${ip}:${opts.port} to serve`,
  );
  return {
    address: `${ip}:${opts.port}`,
    uiUrl: `http://${ip}:${opts.uiPort}`,
    process: child,
    async stop() {
      if (exited) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
