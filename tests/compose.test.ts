import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/util/project-paths';
import { MSM_SEARCH_ATTRIBUTES } from '../src/workflows/search-attributes';

/**
 * The Docker Compose stack, checked without a Docker engine: Debian's docker-compose validates the file and
 * prints it resolved (scripts/setup.sh installs it), and the setup scripts parse as POSIX sh.
 */
describe('docker-compose.yml', () => {
  const resolved = () =>
    YAML.parse(
      execFileSync('docker-compose', ['-f', path.join(PROJECT_ROOT, 'docker-compose.yml'), 'config'], {
        encoding: 'utf8',
      }),
    ) as {
      services: Record<
        string,
        {
          image?: string;
          build?: unknown;
          healthcheck?: unknown;
          depends_on?: Record<string, { condition: string }>;
          environment?: Record<string, string>;
        }
      >;
      volumes: Record<string, unknown>;
    };

  it('is a valid Compose file: PostgreSQL, schema set-up, Temporal server, namespace set-up, UI, SeaweedFS and the workers', () => {
    const c = resolved();
    expect(Object.keys(c.services).sort()).toEqual([
      'postgresql',
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
    // Start order: schema after the database is healthy, server after the schema, workers after the namespace.
    expect(c.services['temporal-schema'].depends_on).toEqual({ postgresql: { condition: 'service_healthy' } });
    expect(c.services.temporal.depends_on).toEqual({
      'temporal-schema': { condition: 'service_completed_successfully' },
    });
    expect(c.services.workers.depends_on).toMatchObject({
      'temporal-init': { condition: 'service_completed_successfully' },
      seaweedfs: { condition: 'service_healthy' },
    });
    expect(c.services.workers.environment).toMatchObject({
      TEMPORAL_ADDRESS: 'temporal:7233',
      MSM_S3_ENDPOINT: 'http://seaweedfs:8333',
    });
    expect(Object.keys(c.volumes).sort()).toEqual(['msm-state', 'postgres-data', 's3-data']);
  });

  it('registers exactly the search attributes the workflows set, and its scripts parse as POSIX sh', () => {
    const init = readFileSync(path.join(PROJECT_ROOT, 'deploy', 'temporal', 'init-namespace.sh'), 'utf8');
    const listed = /for sa in ([^;]+);/.exec(init)![1].trim().split(/\s+/);
    expect(listed).toEqual(MSM_SEARCH_ATTRIBUTES.map((a) => `${a.name}:${a.type}`));
    for (const f of ['init-namespace.sh', 'setup-schema.sh'])
      execFileSync('sh', ['-n', path.join(PROJECT_ROOT, 'deploy', 'temporal', f)]);
  });
});
