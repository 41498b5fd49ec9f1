import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LedgerFile } from '../../src/compute/ledger';
import { openStore } from '../../src/store/open-store';
import { sumUsage, ledgerUsage, type ComputeLedger } from '../../src/cost/compute-usage';
import { computeSection, computeTable } from '../../src/report/compute';

const t = (minutes: number) => new Date(Date.UTC(2026, 0, 1, 0, minutes)).toISOString();

/** Two pods: the first (2 GPUs at $3) lost 15 minutes after its last checkpoint, the second finished. */
const ledger: ComputeLedger = {
  machines: [
    {
      machineId: 'pod1',
      backend: 'runpod',
      gpuCount: 2,
      pricePerGpuHour: 3,
      provisionedAt: t(0),
      lastSeenAt: t(60),
      releasedAt: t(60),
      losses: [{ at: t(60), reason: 'RunPod reports pod pod1 TERMINATED', workSince: t(45) }],
    },
    { machineId: 'pod2', backend: 'runpod', gpuCount: 2, pricePerGpuHour: 3, provisionedAt: t(61), lastSeenAt: t(91) },
  ],
};

describe('cost meter arithmetic', () => {
  it('bills provision → release (or last seen), counts losses and the unsaved work', () => {
    const u = ledgerUsage(ledger);
    expect(u.machines).toBe(2);
    expect(u.machineHours).toBeCloseTo(1.5, 12); // 60 + 30 minutes
    expect(u.gpuHours).toBeCloseTo(3, 12);
    expect(u.costUsd).toBeCloseTo(9, 12); // 3 GPU-hours × $3
    expect(u.preemptions).toBe(1);
    expect(u.machineHoursLost).toBeCloseTo(0.25, 12);
    expect(u.gpuHoursLost).toBeCloseTo(0.5, 12);
  });

  it('a machine without a price costs nothing known; sums keep priced runs only', () => {
    const local = ledgerUsage({
      machines: [
        {
          machineId: 'local',
          backend: 'local',
          gpuCount: 0,
          pricePerGpuHour: null,
          provisionedAt: t(0),
          lastSeenAt: t(30),
          releasedAt: t(30),
        },
      ],
    });
    expect(local).toMatchObject({ machines: 1, gpuHours: 0, costUsd: null, preemptions: 0 });
    expect(local.machineHours).toBeCloseTo(0.5, 12);
    const total = sumUsage([ledgerUsage(ledger), local]);
    expect(total.costUsd).toBeCloseTo(9, 12);
    expect(total.machines).toBe(3);
    expect(sumUsage([local]).costUsd).toBeNull();
  });

  it('the report table lists each run and the total', () => {
    const s = computeSection([
      { run: 'midtrain', usage: ledgerUsage(ledger) },
      { run: 'msm-1of1-s0', usage: ledgerUsage(ledger) },
    ]);
    const table = computeTable(s);
    expect(table.rows.map((r) => r[0])).toEqual(['midtrain', 'msm-1of1-s0', 'total']);
    expect(table.rows[2]).toEqual(['total', '4', '3.000', '6.000', '$18.00', '2', '1.000']);
    expect(s.definitions.join(' ')).toContain('GPU time lost');
  });
});

describe('the ledger across attempts', () => {
  const handle = { backend: 'runpod', machineId: 'pod9', details: { gpuCount: 4, pricePerGpuHour: 2 } };

  it('a retry that re-attaches continues the machine; one that finds the job gone records the unseen loss', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-ledger-'));
    try {
      const store = openStore(pathToFileURL(dir).href);
      const first = await LedgerFile.load(store, 'run/compute/ledger.json');
      await first.opened(handle, new Date());
      await first.launched(false);
      await first.checkpointed();
      // The worker dies here (no release). A retry finds the pod and the job still running: re-attach.
      const second = await LedgerFile.load(store, 'run/compute/ledger.json');
      await second.opened(handle, new Date());
      await second.launched(true);
      expect(second.usage()).toMatchObject({ machines: 1, preemptions: 0 });
      // The worker dies again, and so does the job. The next retry has to start it again: a loss.
      const third = await LedgerFile.load(store, 'run/compute/ledger.json');
      await third.opened(handle, new Date());
      await third.launched(false);
      await third.released();
      const ledger = JSON.parse(readFileSync(path.join(dir, 'run', 'compute', 'ledger.json'), 'utf8')) as ComputeLedger;
      expect(ledger.machines).toHaveLength(1);
      expect(ledger.machines[0].losses).toHaveLength(1);
      expect(ledger.machines[0].losses![0].reason).toContain(
        'the job had stopped when a new attempt reached the machine',
      );
      expect(third.usage()).toMatchObject({ machines: 1, preemptions: 1 });
      // A new attempt after the release is a new machine record, even with the same id (ssh, local).
      const fourth = await LedgerFile.load(store, 'run/compute/ledger.json');
      await fourth.opened(handle, new Date());
      expect(fourth.usage().machines).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
