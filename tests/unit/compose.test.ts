import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { MSM_SEARCH_ATTRIBUTES } from '../../src/temporal/search-attribute-keys';

interface Service {
  image?: string;
  build?: { args?: Record<string, string> };
  command?: string[];
  healthcheck?: unknown;
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
}

const composeFile = path.join(PROJECT_ROOT, 'docker-compose.yml');
/** What an operator puts in .env (deploy/env.example); nothing of it is in the repository. */
const required = {
  MSM_BUILD_ID: 'abc1234',
  MSM_S3_ACCESS_KEY: 'opsaccess',
  MSM_S3_SECRET_KEY: 'secret-from-the-environment-0123',
  POSTGRES_PASSWORD: 'pg-from-the-environment',
};
/** The environment without any variable the compose file reads, so a developer's own cannot leak in. */
const bareEnv = () =>
  Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(MSM_|POSTGRES_|OPENAI_|ANTHROPIC_|RUNPOD_)/.test(k)),
  );
const config = (env: Record<string, string>) =>
  spawnSync('docker-compose', ['-f', composeFile, 'config'], { encoding: 'utf8', env: { ...bareEnv(), ...env } });

/**
 * The Docker Compose stack, checked without a Docker engine: Debian's docker-compose validates the file and
 * prints it resolved (scripts/setup.sh installs it), and the setup scripts parse. No image is pulled, built
 * or started here (docs/deploying.md says what was and was not run).
 */
describe('docker-compose.yml', () => {
  type Resolved = { services: Record<string, Service>; volumes: Record<string, unknown> };
  // The resolved file, read once for the tests that inspect it (each docker-compose run takes about a second).
  let resolvedOnce: Resolved | undefined;
  const resolved = () => {
    if (resolvedOnce) return resolvedOnce;
    const r = config(required);
    expect(r.status, r.stderr).toBe(0);
    return (resolvedOnce = YAML.parse(r.stdout) as Resolved);
  };

  it('is a valid Compose file: PostgreSQL, schema set-up, Temporal server, namespace set-up, UI, SeaweedFS, bucket set-up and the workers', () => {
    const c = resolved();
    expect(Object.keys(c.services).sort()).toEqual([
      'postgresql',
      's3-init',
      'seaweedfs',
      'temporal',
      'temporal-init',
      'temporal-schema',
      'temporal-ui',
      'workers',
    ]);
    expect(c.services.temporal.image).toMatch(/^temporalio\/server:/);
    expect(c.services['temporal-schema'].image).toMatch(/^temporalio\/admin-tools:/);
    expect(c.services.workers.build).toBeDefined();
    for (const s of ['postgresql', 'seaweedfs', 'temporal-ui']) expect(c.services[s].healthcheck, s).toBeDefined();
    // Start order: schema after the database is healthy, server after the schema, the bucket once S3 is
    // healthy, workers after the namespace and the bucket.
    expect(c.services['temporal-schema'].depends_on).toEqual({ postgresql: { condition: 'service_healthy' } });
    expect(c.services.temporal.depends_on).toEqual({
      'temporal-schema': { condition: 'service_completed_successfully' },
    });
    expect(c.services['s3-init'].depends_on).toEqual({ seaweedfs: { condition: 'service_healthy' } });
    expect(c.services.workers.depends_on).toEqual({
      'temporal-init': { condition: 'service_completed_successfully' },
      's3-init': { condition: 'service_completed_successfully' },
    });
    expect(c.services.workers.environment).toMatchObject({
      TEMPORAL_ADDRESS: 'temporal:7233',
      MSM_S3_ENDPOINT: 'http://seaweedfs:8333',
    });
    expect(Object.keys(c.volumes).sort()).toEqual(['msm-state', 'postgres-data', 's3-data']);
  });

  it('refuses to start without a build id, an S3 identity and a database password, naming each', () => {
    for (const name of Object.keys(required)) {
      const r = config({ ...required, [name]: '' });
      expect(r.status, name).not.toBe(0);
      expect(r.stderr, name).toContain(`set ${name}`);
    }
  });

  it('takes every credential from the environment and publishes ports on 127.0.0.1 only', () => {
    const c = resolved();
    // No S3 identity file in the repository; SeaweedFS writes one from the environment at start.
    expect(existsSync(path.join(PROJECT_ROOT, 'deploy', 'seaweedfs', 's3.json'))).toBe(false);
    expect(c.services.seaweedfs.environment).toMatchObject({
      MSM_S3_ACCESS_KEY: required.MSM_S3_ACCESS_KEY,
      MSM_S3_SECRET_KEY: required.MSM_S3_SECRET_KEY,
    });
    for (const s of ['workers', 's3-init'])
      expect(c.services[s].environment, s).toMatchObject({
        AWS_ACCESS_KEY_ID: required.MSM_S3_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY: required.MSM_S3_SECRET_KEY,
      });
    expect(c.services.postgresql.environment!.POSTGRES_PASSWORD).toBe(required.POSTGRES_PASSWORD);
    const published = Object.entries(c.services).flatMap(([name, s]) => (s.ports ?? []).map((p) => [name, p]));
    expect(published.map(([n]) => n).sort()).toEqual(['seaweedfs', 'temporal', 'temporal-ui']);
    for (const [name, port] of published) expect(port, name).toMatch(/^127\.0\.0\.1:/);
    const text = readFileSync(composeFile, 'utf8');
    expect(text).not.toMatch(/msm-secret|POSTGRES_PASSWORD:-/);
  });

  it('every image of one build declares that build id; the workers can run trainer jobs and write their state', () => {
    const c = resolved();
    for (const s of ['workers', 's3-init']) {
      expect(c.services[s].image, s).toBe(`msm-workers:${required.MSM_BUILD_ID}`);
      expect(c.services[s].build!.args, s).toEqual({ MSM_BUILD_ID: required.MSM_BUILD_ID });
    }
    expect(c.services.workers.environment!.MSM_BUILD_ID).toBe(required.MSM_BUILD_ID);
    expect(c.services.workers.environment).toHaveProperty('RUNPOD_API_KEY');
    expect(c.services.workers.volumes!.some((v) => v.endsWith(':/run/msm-ssh:ro'))).toBe(true);
    const dockerfile = readFileSync(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/test -n "\$MSM_BUILD_ID"/);
    expect(dockerfile).toContain('--index-url https://download.pytorch.org/whl/cpu');
    expect(dockerfile).toContain('-r /tmp/trainer-requirements.txt');
    expect(dockerfile).toContain('ENV MSM_PYTHON=/opt/msm-venv/bin/python');
    // The state folder is node's before the image switches to node (a new named volume takes its owner).
    expect(dockerfile.indexOf('chown node:node /app/.msm')).toBeGreaterThan(-1);
    expect(dockerfile.indexOf('chown node:node /app/.msm')).toBeLessThan(dockerfile.indexOf('USER node'));
  });

  it("mounts the Temporal dynamic config the cluster lane's server runs with", () => {
    const c = resolved();
    expect(c.services.temporal.volumes).toContain(
      `${path.join(PROJECT_ROOT, 'deploy', 'temporal', 'dynamicconfig.yaml')}:/etc/temporal/config/dynamicconfig/docker.yaml:ro`,
    );
    const mounted = YAML.parse(
      readFileSync(path.join(PROJECT_ROOT, 'deploy', 'temporal', 'dynamicconfig.yaml'), 'utf8'),
    );
    const lane = readFileSync(path.join(PROJECT_ROOT, 'scripts', 'cluster', 'cluster.sh'), 'utf8');
    const laneConfig = YAML.parse(/dynamicconfig\.yaml" <<YAML\n([\s\S]*?)\nYAML/.exec(lane)![1]);
    expect(mounted).toEqual(laneConfig);
    expect(mounted['limit.maxIDLength']).toEqual([{ value: 255, constraints: {} }]);
  });

  it('registers exactly the search attributes the workflows set, and its scripts parse', () => {
    const init = readFileSync(path.join(PROJECT_ROOT, 'deploy', 'temporal', 'init-namespace.sh'), 'utf8');
    const listed = /for sa in ([^;]+);/.exec(init)![1].trim().split(/\s+/);
    expect(listed).toEqual(MSM_SEARCH_ATTRIBUTES.map((a) => `${a.name}:${a.type}`));
    for (const f of ['temporal/init-namespace.sh', 'temporal/setup-schema.sh', 'seaweedfs/start.sh'])
      execFileSync('sh', ['-n', path.join(PROJECT_ROOT, 'deploy', f)]);
    execFileSync(process.execPath, ['--check', path.join(PROJECT_ROOT, 'deploy', 'seaweedfs', 'ensure-bucket.mjs')]);
  });
});
