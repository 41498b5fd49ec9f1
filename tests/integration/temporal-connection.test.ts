import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporalTarget } from '../../src/temporal/connection';
import { requireSearchAttributes } from '../../src/temporal/search-attributes';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { TestTemporalServer } from '../helpers/temporal-server';
import { makeCertificates, startTlsProxy } from '../helpers/tls-proxy';

/**
 * Any Temporal, not only the embedded dev server: connection settings from Temporal's environment
 * configuration and profiles, and msm's search attributes registered by `msm setup` on a namespace that
 * lacks them (a dev server started bare stands for a real cluster).
 */
const MSM = path.join(PROJECT_ROOT, 'bin', 'msm');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'msm-connection-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('connection settings (Temporal environment configuration)', () => {
  it('nothing set: the local dev server; TEMPORAL_* variables name another; flags win over both', () => {
    expect(temporalTarget({}, {})).toMatchObject({ address: '127.0.0.1:7233', namespace: 'default', local: true });
    const env = { TEMPORAL_ADDRESS: 'temporal.lab:7233', TEMPORAL_NAMESPACE: 'msm-lab' };
    expect(temporalTarget({}, env)).toMatchObject({ address: 'temporal.lab:7233', namespace: 'msm-lab', local: false });
    expect(temporalTarget({ address: 'other:7233', namespace: 'ns2' }, env)).toMatchObject({
      address: 'other:7233',
      namespace: 'ns2',
    });
  });

  it('an API key turns TLS on and is never printed; a temporal.toml profile is chosen by name', () => {
    const cloud = temporalTarget(
      {},
      {
        TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
        TEMPORAL_NAMESPACE: 'ns.acct',
        TEMPORAL_API_KEY: 'secret-key-123',
      },
    );
    expect(cloud.connectionOptions.apiKey).toBe('secret-key-123');
    expect(cloud.connectionOptions.tls).toBeTruthy();
    expect(cloud.describe).toBe('ns.acct.tmprl.cloud:7233 namespace ns.acct (TLS + API key)');
    expect(cloud.describe).not.toContain('secret');

    const toml = path.join(dir, 'temporal.toml');
    writeFileSync(
      toml,
      '[profile.default]\naddress = "a:7233"\n\n[profile.staging]\naddress = "staging.lab:7233"\nnamespace = "msm-staging"\n',
    );
    expect(temporalTarget({}, { TEMPORAL_CONFIG_FILE: toml })).toMatchObject({ address: 'a:7233', local: false });
    expect(temporalTarget({}, { TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'staging' })).toMatchObject({
      address: 'staging.lab:7233',
      namespace: 'msm-staging',
    });
    expect(temporalTarget({ profile: 'staging' }, { TEMPORAL_CONFIG_FILE: toml })).toMatchObject({
      namespace: 'msm-staging',
    });
    writeFileSync(toml, 'this is = not [toml');
    expect(() => temporalTarget({}, { TEMPORAL_CONFIG_FILE: toml })).toThrow(
      /cannot read the Temporal connection settings from TEMPORAL_CONFIG_FILE=/,
    );
  });
});

describe('msm setup on a namespace without our search attributes (real server, started bare)', () => {
  let server: TestTemporalServer;
  let connection: Connection;

  beforeAll(async () => {
    server = await TestTemporalServer.start({ searchAttributes: false, extraNamespaces: ['msm-lab', 'other-team'] });
    connection = await Connection.connect({ address: server.address });
  }, 120_000);
  afterAll(async () => {
    await connection?.close();
    await server?.down();
  });

  const msm = (args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync(MSM, args, {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, TEMPORAL_ADDRESS: server.address, ...env },
    });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };

  it('workers refuse to start on it, naming the fix; `msm setup` registers them once; a second run changes nothing', async () => {
    await expect(requireSearchAttributes(connection, 'msm-lab')).rejects.toThrow(
      /namespace msm-lab lacks msm's search attributes \(MsmSpec is missing; .*\): run `msm setup` against it once, or `temporal operator search-attribute create --namespace msm-lab --name MsmSpec --type Keyword/,
    );
    const worker = msm(['worker'], { TEMPORAL_NAMESPACE: 'msm-lab' });
    expect(worker.code).toBe(1);
    expect(worker.out).toMatch(/lacks msm's search attributes/);

    const first = msm(['setup'], { TEMPORAL_NAMESPACE: 'msm-lab' });
    expect(first.out).toContain(
      `${server.address} namespace msm-lab: search attributes added MsmSpec, MsmBaseModel, MsmStage, MsmArm, MsmFraction, MsmReleaseFailed`,
    );
    expect(first.code).toBe(0);
    const again = msm(['setup', '--namespace', 'msm-lab']);
    expect(again.out).toMatch(
      /msm-lab: search attributes already registered; present: MsmSpec, MsmBaseModel, MsmStage, MsmArm, MsmFraction, MsmReleaseFailed/,
    );
    await expect(requireSearchAttributes(connection, 'msm-lab')).resolves.toBeUndefined();
    // Other namespaces are untouched.
    await expect(requireSearchAttributes(connection, 'other-team')).rejects.toThrow(/other-team lacks/);
  }, 300_000);

  /** As `msm`, without blocking this process (the TLS proxy below runs in it). */
  const msmAsync = (args: string[], env: Record<string, string>) =>
    new Promise<{ code: number; out: string }>((resolve) => {
      execFile(
        MSM,
        args,
        { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } },
        (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
      );
    });

  it('connects through mutual TLS with the TEMPORAL_TLS_* variables (and is refused without the client certificate)', async () => {
    const certs = makeCertificates(dir);
    const proxy = await startTlsProxy({ host: '127.0.0.1', port: server.port }, certs);
    try {
      const tlsEnv = {
        TEMPORAL_ADDRESS: `localhost:${proxy.port}`,
        TEMPORAL_NAMESPACE: 'msm-lab',
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.ca,
        TEMPORAL_TLS_CLIENT_CERT_PATH: certs.clientCert,
        TEMPORAL_TLS_CLIENT_KEY_PATH: certs.clientKey,
      };
      const ok = await msmAsync(['setup'], tlsEnv);
      expect(ok.out).toContain(`localhost:${proxy.port} namespace msm-lab (TLS): search attributes already registered`);
      expect(ok.code).toBe(0);
      const { TEMPORAL_TLS_CLIENT_CERT_PATH: _c, TEMPORAL_TLS_CLIENT_KEY_PATH: _k, ...noClientCert } = tlsEnv;
      const refused = await msmAsync(['setup'], { ...noClientCert, TEMPORAL_TLS: 'true' });
      expect(refused.code).not.toBe(0);
      expect(refused.out).toMatch(/Failed to connect|certificate|handshake/i);
    } finally {
      await proxy.close();
    }
  }, 180_000);

  it('refuses a namespace where one of our names has another type, saying which', async () => {
    await connection.operatorService.addSearchAttributes({
      namespace: 'other-team',
      searchAttributes: { MsmStage: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT },
    });
    const r = msm(['setup', '--namespace', 'other-team']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      /namespace other-team has search attributes of another type: MsmStage is int, msm needs keyword/,
    );
  }, 120_000);
});
