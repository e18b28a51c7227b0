import { describe, expect, it } from 'vitest';
import { AddressPool } from '../../session/AddressPool.js';

describe('AddressPool', () => {
  it('hands out distinct addresses and none past the end', () => {
    const pool = new AddressPool(100, 102);
    expect([pool.allocate(), pool.allocate(), pool.allocate()]).toEqual([100, 101, 102]);
    expect(pool.allocate()).toBeNull();
    expect(pool.size).toEqual({ total: 3, used: 3 });
  });

  it('does not reuse a freed address at once', () => {
    const pool = new AddressPool(100, 102);
    const a = pool.allocate()!;
    pool.release(a);
    expect(pool.allocate()).toBe(101);
    expect(pool.allocate()).toBe(102);
    expect(pool.allocate()).toBe(a);
  });

  it('static addresses: inside or outside the pool, never twice', () => {
    const pool = new AddressPool(100, 102);
    expect(pool.allocate(101)).toBe(101);
    expect(pool.allocate(101)).toBeNull();
    expect(pool.allocate(500)).toBe(500);
    expect([pool.allocate(), pool.allocate(), pool.allocate()]).toEqual([100, 102, null]);
    pool.release(500);
    expect(pool.isInUse(500)).toBe(false);
    pool.release(101);
    expect(pool.allocate()).toBe(101);
  });

  it('resize (a reload): growing queues the new addresses last; shrinking takes out free ones only, a held one leaves when released', () => {
    const pool = new AddressPool(100, 102);
    expect([pool.allocate(), pool.allocate()]).toEqual([100, 101]);
    pool.resize(100, 104);
    expect(pool.size).toEqual({ total: 5, used: 2 });
    expect([pool.allocate(), pool.allocate(), pool.allocate(), pool.allocate()]).toEqual([102, 103, 104, null]);
    pool.release(103);
    pool.release(104);
    // Shrink below what is held: 100, 101 and 102 stay with their sessions; 103 and 104 are gone at once.
    pool.resize(100, 100);
    expect(pool.size).toEqual({ total: 1, used: 3 });
    expect(pool.allocate()).toBeNull();
    pool.release(101);
    pool.release(102);
    expect(pool.allocate()).toBeNull(); // outside the range now: not handed out again
    pool.release(100);
    expect(pool.allocate()).toBe(100);
    // Growing again brings back what was free, never what is held.
    pool.resize(100, 102);
    expect([pool.allocate(), pool.allocate(), pool.allocate()]).toEqual([101, 102, null]);
  });
});
