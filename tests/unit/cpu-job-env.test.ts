import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CPU_JOB_ENV, jobEnv } from '../../src/compute/from-config';
import { PROJECT_ROOT } from '../../src/util/project-paths';

describe("a CPU trainer job's environment (allocator, OpenMP)", () => {
  it('go to every job on device cpu, and to no GPU job', () => {
    expect(jobEnv({ device: 'cpu', unpolledTimeoutSec: 60 })).toEqual({
      MSM_UNPOLLED_TIMEOUT_SEC: '60',
      ...CPU_JOB_ENV,
    });
    for (const device of ['cuda', 'auto'] as const)
      expect(Object.keys(jobEnv({ device, unpolledTimeoutSec: 60 }))).toEqual(['MSM_UNPOLLED_TIMEOUT_SEC']);
  });

  it("are the ones the trainer's pytest suite runs with (scripts/pytest.sh)", () => {
    const script = readFileSync(path.join(PROJECT_ROOT, 'scripts', 'pytest.sh'), 'utf8');
    const exported = /^export (.+)$/m.exec(script)![1].split(/\s+/);
    expect(Object.fromEntries(exported.map((kv) => kv.split('=')))).toEqual(CPU_JOB_ENV);
  });
});
