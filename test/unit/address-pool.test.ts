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
});
