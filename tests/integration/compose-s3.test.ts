import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ArtifactStore } from '../../src/store/s3-store';
import { freePort, isPortOpen } from '../../src/temporal/dev-server';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { stopWeed, weedBinary } from '../helpers/seaweedfs';
import { waitUntil } from '../helpers/scripted-experiment';

/**
 * The compose stack's S3 side without Docker: deploy/seaweedfs/start.sh (the seaweedfs service's entrypoint)
 * runs the real `weed server` with its identity from the environment, and deploy/seaweedfs/ensure-bucket.mjs
 * (the s3-init service) creates the bucket that identity is scoped to.
 */
describe('compose S3: identity from the environment, bucket created at start', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-compose-s3-'));
  const identity = { MSM_S3_ACCESS_KEY: 'composeaccess', MSM_S3_SECRET_KEY: 'compose-secret-0123456789' };
  let server: ChildProcess;
  let endpoint = '';

  const ensureBucket = (env: Record<string, string>) =>
    spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'deploy', 'seaweedfs', 'ensure-bucket.mjs')], {
      encoding: 'utf8',
      env: {
        ...process.env,
        MSM_S3_ENDPOINT: endpoint,
        AWS_ACCESS_KEY_ID: identity.MSM_S3_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY: identity.MSM_S3_SECRET_KEY,
        MSM_S3_WAIT_SECONDS: '30',
        ...env,
      },
      timeout: 60_000,
    });
  const store = (bucket: string) =>
    new S3ArtifactStore(`s3://${bucket}/check`, {
      endpoint,
      accessKeyId: identity.MSM_S3_ACCESS_KEY,
      secretAccessKey: identity.MSM_S3_SECRET_KEY,
    });

  beforeAll(async () => {
    const [master, volume, filer, s3, ...grpc] = await Promise.all(Array.from({ length: 8 }, () => freePort()));
    const ports = [
      `-master.port=${master}`,
      `-volume.port=${volume}`,
      `-filer.port=${filer}`,
      `-s3.port=${s3}`,
      `-master.port.grpc=${grpc[0]}`,
      `-volume.port.grpc=${grpc[1]}`,
      `-filer.port.grpc=${grpc[2]}`,
      `-s3.port.grpc=${grpc[3]}`,
      // Listeners the compose stack does not use: off, so they cannot collide with another server here.
      '-s3.port.iceberg=0',
      '-s3.port.lance=0',
    ];
    const env = {
      ...process.env,
      ...identity,
      PATH: `${path.dirname(weedBinary())}:${process.env.PATH}`,
      MSM_S3_DATA_DIR: dir,
      MSM_S3_CONFIG: path.join(dir, 's3.json'),
    };
    const script = path.join(PROJECT_ROOT, 'deploy', 'seaweedfs', 'start.sh');
    server = spawn('sh', [script, '-ip=127.0.0.1', '-ip.bind=127.0.0.1', '-webdav=false', ...ports], {
      env,
      stdio: ['ignore', 'ignore', openSync(path.join(dir, 'weed.log'), 'w')],
    });
    endpoint = `http://127.0.0.1:${s3}`;
    await waitUntil(() => isPortOpen(s3), 60_000, 'weed server -s3 from deploy/seaweedfs/start.sh');
  }, 120_000);
  afterAll(async () => {
    if (server) await stopWeed(server);
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the bucket once, then finds it; the store works in it and nowhere else', async () => {
    expect(statSync(path.join(dir, 's3.json')).mode & 0o777).toBe(0o600);
    const first = ensureBucket({});
    expect(server.exitCode, readFileSync(path.join(dir, 'weed.log'), 'utf8').slice(-2000)).toBeNull();
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toContain('created bucket msm');
    const again = ensureBucket({});
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toContain('bucket msm is there');
    await store('msm').put('a/b.txt', 'hello');
    expect((await store('msm').get('a/b.txt')).toString()).toBe('hello');
    expect(await store('msm').list('a/')).toEqual(['a/b.txt']);
    // Scoped to its bucket: another cannot be created or written.
    await expect(store('other').put('x', 'y')).rejects.toThrow();
    const other = ensureBucket({ MSM_S3_BUCKET: 'other' });
    expect(other.status).toBe(2);
    expect(other.stderr).toMatch(/refused bucket other/);
  }, 120_000);

  it('exits 2, naming the variables to fix, with a wrong secret', () => {
    const wrong = ensureBucket({ AWS_SECRET_ACCESS_KEY: 'not-the-secret-at-all' });
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toMatch(/MSM_S3_ACCESS_KEY \/ MSM_S3_SECRET_KEY/);
  });

  it('start.sh refuses a short secret or one it cannot write into JSON as is', () => {
    const script = path.join(PROJECT_ROOT, 'deploy', 'seaweedfs', 'start.sh');
    for (const secret of ['short', 'has"a-quote-0123456789'])
      expect(
        spawnSync('sh', [script], {
          encoding: 'utf8',
          env: {
            ...identity,
            MSM_S3_SECRET_KEY: secret,
            MSM_S3_CONFIG: path.join(dir, 'refused.json'),
            PATH: '/usr/bin:/bin',
          },
        }).status,
        secret,
      ).toBe(2);
  });
});
