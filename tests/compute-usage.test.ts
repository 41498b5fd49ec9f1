import { describe, expect, it } from 'vitest';
import { sumUsage, usageOf, type ComputeLedger } from '../src/cost/compute-usage';
import { computeSection, computeTable } from '../src/report/compute';

const t = (minutes: number) => new Date(Date.UTC(2026, 0, 1, 0, minutes)).toISOString();

/** Two pods: the first (2 GPUs at $3) lost 15 minutes after its last checkpoint, the second finished. */
const ledger: ComputeLedger = {
  machines: [
    { machineId: 'pod1', backend: 'runpod', gpuCount: 2, pricePerGpuHour: 3, provisionedAt: t(0), lastSeenAt: t(60), releasedAt: t(60), lost: { at: t(60), reason: 'RunPod reports pod pod1 TERMINATED', workSince: t(45) } },
    { machineId: 'pod2', backend: 'runpod', gpuCount: 2, pricePerGpuHour: 3, provisionedAt: t(61), lastSeenAt: t(91) },
  ],
};

describe('cost meter arithmetic', () => {
  it('bills provision → release (or last seen), counts losses and the unsaved work', () => {
    const u = usageOf(ledger);
    expect(u.machines).toBe(2);
    expect(u.machineHours).toBeCloseTo(1.5, 12); // 60 + 30 minutes
    expect(u.gpuHours).toBeCloseTo(3, 12);
    expect(u.costUsd).toBeCloseTo(9, 12); // 3 GPU-hours × $3
    expect(u.preemptions).toBe(1);
    expect(u.machineHoursLost).toBeCloseTo(0.25, 12);
    expect(u.gpuHoursLost).toBeCloseTo(0.5, 12);
  });

  it('a machine without a price costs nothing known; sums keep priced runs only', () => {
    const local = usageOf({ machines: [{ machineId: 'local', backend: 'local', gpuCount: 0, pricePerGpuHour: null, provisionedAt: t(0), lastSeenAt: t(30), releasedAt: t(30) }] });
    expect(local).toMatchObject({ machines: 1, gpuHours: 0, costUsd: null, preemptions: 0 });
    expect(local.machineHours).toBeCloseTo(0.5, 12);
    const total = sumUsage([usageOf(ledger), local]);
    expect(total.costUsd).toBeCloseTo(9, 12);
    expect(total.machines).toBe(3);
    expect(sumUsage([local]).costUsd).toBeNull();
  });

  it('the report table lists each run and the total', () => {
    const s = computeSection([{ run: 'midtrain', usage: usageOf(ledger) }, { run: 'msm-1of1-s0', usage: usageOf(ledger) }]);
    const table = computeTable(s);
    expect(table.rows.map((r) => r[0])).toEqual(['midtrain', 'msm-1of1-s0', 'total']);
    expect(table.rows[2]).toEqual(['total', '4', '3.000', '6.000', '$18.00', '2', '1.000']);
    expect(s.definitions.join(' ')).toContain('GPU time lost');
  });
});
