import { describe, expect, it } from '@jest/globals';
import { SlotPool } from '../../src/slot-pool.js';

/** Lets every pending promise callback run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Records the slots `promises` resolve to, as they do. */
function track(promises: readonly Promise<number>[]): (number | undefined)[] {
  const got: (number | undefined)[] = promises.map(() => undefined);
  promises.forEach((promise, i) => void promise.then((slot) => (got[i] = slot)));
  return got;
}

describe('SlotPool', () => {
  it('hands out every slot once, lowest first', async () => {
    const pool = new SlotPool(3);
    expect(pool.available).toBe(3);
    expect(await pool.acquire()).toBe(0);
    expect(await pool.acquire()).toBe(1);
    expect(await pool.acquire()).toBe(2);
    expect(pool.available).toBe(0);
  });

  it('makes a taker wait while every slot is taken', async () => {
    const pool = new SlotPool(1);
    await pool.acquire();
    const got = track([pool.acquire()]);
    await settle();
    expect(got).toEqual([undefined]);
  });

  it('hands a released slot to the first waiter, not back to the pool', async () => {
    const pool = new SlotPool(2);
    await pool.acquire();
    await pool.acquire();
    const got = track([pool.acquire()]);
    pool.release(1);
    await settle();
    expect(got).toEqual([1]);
    expect(pool.available).toBe(0);
  });

  it('serves waiters in the order they came', async () => {
    const pool = new SlotPool(2);
    await pool.acquire();
    await pool.acquire();
    const got = track([pool.acquire(), pool.acquire(), pool.acquire()]);
    pool.release(1);
    await settle();
    expect(got).toEqual([1, undefined, undefined]);
    pool.release(0);
    await settle();
    expect(got).toEqual([1, 0, undefined]);
    pool.release(0);
    await settle();
    expect(got).toEqual([1, 0, 0]);
  });

  it('returns a released slot to the pool when no one waits', async () => {
    const pool = new SlotPool(2);
    const a = await pool.acquire();
    await pool.acquire();
    pool.release(a);
    expect(pool.available).toBe(1);
    expect(await pool.acquire()).toBe(a);
    expect(pool.available).toBe(0);
  });

  it('serves a taker that came after a release from the pool at once', async () => {
    const pool = new SlotPool(1);
    const slot = await pool.acquire();
    pool.release(slot);
    const got = track([pool.acquire()]);
    await settle();
    expect(got).toEqual([slot]);
  });

  it('with no slots, makes every taker wait for a release', async () => {
    const pool = new SlotPool(0);
    expect(pool.available).toBe(0);
    const got = track([pool.acquire()]);
    await settle();
    expect(got).toEqual([undefined]);
    pool.release(7);
    await settle();
    expect(got).toEqual([7]);
  });
});
