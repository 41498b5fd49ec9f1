import { Connection } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { SEARCH_ATTRIBUTE_FLAGS } from './search-attribute-keys';

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
  /** The Web UI decodes payloads through this codec server (msm codec-server; docs/security.md). */
  uiCodecEndpoint?: string;
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

const handedOut = new Set<number>();

function canListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const bound = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(bound));
    });
  });
}

/**
 * A port free right now. Drawn below Linux's ephemeral range (32768+), which every outgoing connection on the
 * machine draws from, so a busy test run's clients cannot take it before our server binds it.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const candidate = 20_000 + Math.floor(Math.random() * 12_000);
    // Not yet bound by whoever asked for it, so only this set keeps one caller's ports apart.
    if (handedOut.has(candidate)) continue;
    const port = await canListen(candidate);
    if (port) {
      handedOut.add(port);
      return port;
    }
  }
  const port = await canListen(0);
  if (!port) throw new Error('no free TCP port on 127.0.0.1');
  return port;
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

/** The dev server process ended before it served; `log` is what it wrote during this start. */
export class DevServerExitedError extends Error {
  constructor(
    readonly logPath: string,
    readonly log: string,
  ) {
    super(`temporal server exited at start (log: ${logPath}):\n${log.trim().split('\n').slice(-15).join('\n')}`);
    this.name = 'DevServerExitedError';
  }

  /** The CLI picks its HTTP, metrics and internal ports at random, so another process can take one first. */
  get portInUse(): boolean {
    return /address already in use/i.test(this.log);
  }

  /** Was it this port that was taken? */
  portTaken(port: number): boolean {
    return this.portInUse && new RegExp(`:${port}\\b[^\\n]*address already in use`, 'i').test(this.log);
  }
}

/**
 * Run `start` again, up to `attempts` times in all, while it fails because another process took a port
 * between the draw and the bind (`lostRace`); `pauseMs` grows with each attempt.
 */
export async function retryLostPortRace<T>(
  start: () => Promise<T>,
  lostRace: (e: unknown) => boolean,
  { attempts = 3, pauseMs = 0 } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      if (!lostRace(e) || attempt >= attempts) throw e;
      if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs * attempt));
    }
  }
}

/**
 * Start `temporal server start-dev` with a persistent SQLite file and this project's search attributes.
 * `detached` keeps it running after this process exits (the demo reuses it next time). A start that loses a
 * port race is tried again: the CLI draws fresh random ports for everything but `port` and `uiPort` (a
 * taken `port` or `uiPort` stays taken, so that is not retried).
 */
export function startDevServer(opts: DevServerOptions & { detached?: boolean }): Promise<DevServer> {
  return retryLostPortRace(
    () => startOnce(opts),
    (e) => e instanceof DevServerExitedError && e.portInUse && !e.portTaken(opts.port) && !e.portTaken(opts.uiPort),
    { pauseMs: 500 },
  );
}

function devServerArgs(opts: DevServerOptions, ip: string): string[] {
  return [
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
    ...(opts.uiCodecEndpoint ? ['--ui-codec-endpoint', opts.uiCodecEndpoint] : []),
  ];
}

async function startOnce(opts: DevServerOptions & { detached?: boolean }): Promise<DevServer> {
  const ip = opts.ip ?? '127.0.0.1';
  mkdirSync(opts.stateDir, { recursive: true });
  const logPath = path.join(opts.stateDir, 'server.log');
  const log = openSync(logPath, 'a');
  const logStart = statSync(logPath).size;
  const child = spawn(opts.cli, devServerArgs(opts, ip), { stdio: ['ignore', log, log], detached: !!opts.detached });
  closeSync(log); // the child holds its own copy
  if (opts.detached) child.unref();
  let exited = false;
  child.once('exit', () => (exited = true));
  const failIfExited = (): void => {
    if (exited) throw new DevServerExitedError(logPath, readFileSync(logPath).subarray(logStart).toString('utf8'));
  };
  await waitFor(
    async () => (failIfExited(), isPortOpen(opts.port, ip)),
    60_000,
    `Temporal dev server on ${ip}:${opts.port}`,
  );
  // The port opens before the frontend serves ("Frontend is not healthy yet"): wait until it answers.
  await waitFor(
    async () => (failIfExited(), answers(`${ip}:${opts.port}`)),
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
