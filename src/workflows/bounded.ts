import { condition } from '@temporalio/workflow';

/**
 * Run tasks with at most `limit()` in flight (re-read on each start, so an update can change it) and
 * only while `canStart()` (pause). Deterministic: tasks start in index order. A task may give its place
 * back before it ends (`release`, e.g. an AFT cell once its GPU work is done and only judging is left).
 */
export async function runBounded<T>(
  count: number,
  limit: () => number,
  canStart: () => boolean,
  task: (i: number, release: () => void) => Promise<T>,
): Promise<T[]> {
  const results = new Array<T>(count);
  await runBoundedUntil(
    count,
    limit,
    canStart,
    () => false,
    async (i, release) => {
      results[i] = await task(i, release);
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
  task: (i: number, release: () => void) => Promise<void>,
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
    // Its place is given back once: when it says so, or when it ends.
    let held = true;
    const release = () => {
      if (held) running--;
      held = false;
    };
    all.push(
      task(i, release).then(release, (e) => {
        failure ??= e;
        release();
      }),
    );
  }
  await Promise.all(all);
  if (failure !== undefined) throw failure;
  return started;
}
