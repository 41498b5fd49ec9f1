import { condition } from '@temporalio/workflow';

/**
 * Run tasks with at most `limit()` in flight (re-read on each start, so an update can change it) and
 * only while `canStart()` (pause). Deterministic: tasks start in index order.
 */
export async function runBounded<T>(
  count: number,
  limit: () => number,
  canStart: () => boolean,
  task: (i: number) => Promise<T>,
): Promise<T[]> {
  const results = new Array<T>(count);
  await runBoundedUntil(
    count,
    limit,
    canStart,
    () => false,
    async (i) => {
      results[i] = await task(i);
    },
  );
  return results;
}

/**
 * runBounded that starts nothing more once `stop()` holds (e.g. the history is long enough to continue as
 * new): the tasks in flight finish, and the result is how many started — tasks 0..n-1, all settled.
 */
export async function runBoundedUntil(
  count: number,
  limit: () => number,
  canStart: () => boolean,
  stop: () => boolean,
  task: (i: number) => Promise<void>,
): Promise<number> {
  let running = 0;
  let started = 0;
  let failure: unknown;
  const all: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    await condition(() => failure !== undefined || stop() || (running < Math.max(1, limit()) && canStart()));
    if (failure !== undefined || stop()) break;
    running++;
    started++;
    all.push(
      task(i).then(
        () => void running--,
        (e) => {
          failure ??= e;
          running--;
        },
      ),
    );
  }
  await Promise.all(all);
  if (failure !== undefined) throw failure;
  return started;
}
