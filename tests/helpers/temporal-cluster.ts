import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../src/util/project-paths';

const run = promisify(execFile);
const SCRIPT = path.join(PROJECT_ROOT, 'scripts', 'cluster', 'cluster.sh');

/**
 * A real Temporal cluster for tests: temporal-server built from Go (scripts/cluster/build-temporal.sh) on
 * its own PostgreSQL, driven through scripts/cluster/cluster.sh so people and tests start it the same way.
 */
export class TemporalCluster {
  private constructor(
    readonly dir: string,
    readonly address: string,
    readonly namespace: string,
  ) {}

  /** Builds the server when it is not cached (minutes), then PostgreSQL, schema, server and namespace. */
  static async start(namespace = 'msm-cluster'): Promise<TemporalCluster> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-cluster-'));
    const { stdout } = await sh(['up', dir, namespace], 20 * 60_000);
    return new TemporalCluster(dir, stdout.trim().split('\n').pop()!, namespace);
  }

  /** SIGKILL (a crash) by default; the history and visibility stay in PostgreSQL. */
  async stopServer(signal: 'KILL' | 'TERM' = 'KILL'): Promise<void> {
    await sh(['server-stop', this.dir, signal], 60_000);
  }

  async startServer(): Promise<void> {
    await sh(['server-start', this.dir], 180_000);
  }

  get serverPid(): number {
    return Number(readFileSync(path.join(this.dir, 'server.pid'), 'utf8'));
  }

  async down(): Promise<void> {
    await sh(['down', this.dir], 120_000);
  }
}

async function sh(args: string[], timeout: number): Promise<{ stdout: string }> {
  try {
    return await run('bash', [SCRIPT, ...args], { timeout, maxBuffer: 16 << 20 });
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`cluster.sh ${args.join(' ')} failed: ${err.message}\n${err.stderr ?? ''}`);
  }
}
