import { readdirSync, readFileSync } from 'node:fs';

/** Is a process with this pid still running (signal 0 checks without sending anything)? */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The process and all its descendants (Linux /proc), e.g. a trainer job's torchrun and its ranks, which run
 * in sessions of their own and so outside the job's process group. */
export function processTree(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parentOf.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [p, parent] of parentOf) if (parent === tree[i]) tree.push(p);
  return tree;
}

/** Send a signal to each of these processes that still exists. */
export function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, signal);
    } catch {
      // already gone
    }
  }
}
