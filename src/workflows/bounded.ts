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
  let running = 0;
  let failure: unknown;
  const all: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    await condition(() => failure !== undefined || (running < Math.max(1, limit()) && canStart()));
    if (failure !== undefined) break;
    running++;
    all.push(
      task(i).then(
        (r) => {
          results[i] = r;
          running--;
        },
        (e) => {
          failure ??= e;
          running--;
        },
      ),
    );
  }
  await Promise.all(all);
  if (failure !== undefined) throw failure;
  return results;
}
