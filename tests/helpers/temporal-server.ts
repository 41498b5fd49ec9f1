import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureTemporalCli } from '../../src/temporal/cli-binary';
import {
  DevServerExitedError,
  freePort,
  retryLostPortRace,
  startDevServer,
  type DevServer,
  type DevServerOptions,
} from '../../src/temporal/dev-server';
import { TOOLS_DIR } from '../../src/util/project-paths';

/** A real Temporal dev server on free loopback ports with its own SQLite file; restartable on the same state. */
export class TestTemporalServer {
  private server?: DevServer;
  private constructor(
    readonly cli: string,
    readonly stateDir: string,
    readonly port: number,
    readonly uiPort: number,
    private readonly options: Pick<DevServerOptions, 'extraNamespaces' | 'searchAttributes' | 'uiCodecEndpoint'> = {},
  ) {}

  /** `options`: e.g. a bare cluster (no msm search attributes) with more namespaces. */
  static async start(
    options: Pick<DevServerOptions, 'extraNamespaces' | 'searchAttributes' | 'uiCodecEndpoint'> = {},
  ): Promise<TestTemporalServer> {
    const stateDir = mkdtempSync(path.join(os.tmpdir(), 'msm-temporal-'));
    const cli = ensureTemporalCli(TOOLS_DIR);
    // Another test's process may take one of our ports between freePort() and the bind: draw new ones.
    return retryLostPortRace(
      async () => {
        const s = new TestTemporalServer(cli, stateDir, await freePort(), await freePort(), options);
        await s.up();
        return s;
      },
      (e) => e instanceof DevServerExitedError && e.portInUse,
    );
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    this.server = await startDevServer({
      cli: this.cli,
      stateDir: this.stateDir,
      port: this.port,
      uiPort: this.uiPort,
      ...this.options,
    });
  }

  async down(): Promise<void> {
    await this.server?.stop();
    this.server = undefined;
  }
}
