import { GPU_TIME_LOST_DEFINITION, sumUsage, type ComputeUsage } from '../cost/compute-usage';
import type { Table } from './table';

/** The report's cost meter: every training run's machines, GPU-hours, cost and preemptions, and the sum. */
export interface ComputeSection {
  runs: Array<{ run: string; usage: ComputeUsage }>;
  total: ComputeUsage;
  definitions: string[];
}

export function computeSection(runs: ComputeSection['runs']): ComputeSection {
  return {
    runs,
    total: sumUsage(runs.map((r) => r.usage)),
    definitions: [
      'cost = Σ over machines of GPUs × hours from provisioning to release × USD per GPU-hour (the price the provider reported for the machine, else compute.pricePerHour); no price: nothing rented',
      'preemptions = machines whose job was lost (provider reported the machine gone, the host stopped answering, the trainer process vanished or was killed, or no events came for compute.stallMinutes)',
      GPU_TIME_LOST_DEFINITION,
    ],
  };
}

const h = (x: number) => x.toFixed(3);

export function computeTable(c: ComputeSection): Table {
  const row = (run: string, u: ComputeUsage) => [
    run,
    String(u.machines),
    h(u.machineHours),
    h(u.gpuHours),
    u.costUsd === null ? '—' : `$${u.costUsd.toFixed(2)}`,
    String(u.preemptions),
    h(u.gpuHoursLost),
  ];
  return {
    headers: ['run', 'machines', 'machine-hours', 'GPU-hours', 'cost', 'preemptions', 'GPU-hours lost'],
    rows: [...c.runs.map((r) => row(r.run, r.usage)), row('total', c.total)],
  };
}
