import { describe, expect, it } from 'vitest';
import { mapBounded } from '../../src/util/bounded';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('mapBounded', () => {
  it('keeps at most `limit` calls in flight and returns results in the order of the items', async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapBounded([5, 1, 4, 2, 3, 1, 2], 3, async (ms, i) => {
      most = Math.max(most, ++inFlight);
      await tick(ms * 5);
      inFlight--;
      return `${i}:${ms}`;
    });
    expect(most).toBe(3);
    expect(out).toEqual(['0:5', '1:1', '2:4', '3:2', '4:3', '5:1', '6:2']);
    expect(await mapBounded([], 4, async () => 1)).toEqual([]);
  });

  it('starts nothing after a failure and throws it once the calls in flight have settled', async () => {
    const started: number[] = [];
    let settled = 0;
    const run = mapBounded([0, 1, 2, 3, 4, 5], 2, async (i) => {
      started.push(i);
      await tick(i === 1 ? 1 : 10);
      settled++;
      if (i === 1) throw new Error('item 1 failed');
      return i;
    });
    await expect(run).rejects.toThrow('item 1 failed');
    expect(started).toEqual([0, 1]);
    expect(settled).toBe(2);
  });
});
