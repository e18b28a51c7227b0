import { describe, expect, it } from 'vitest';
import { CallIdAllocator } from '../../pptp/CallIdAllocator.js';

describe('CallIdAllocator', () => {
  it('hands out 1, 2, 3 ... and never 0', () => {
    const a = new CallIdAllocator();
    expect([a.allocate(), a.allocate(), a.allocate()]).toEqual([1, 2, 3]);
    expect(a.size).toBe(3);
    expect(a.inUse(0)).toBe(false);
    expect(a.inUse(2)).toBe(true);
    expect(a.inUse(4)).toBe(false);
  });

  it('does not reuse a freed ID at once (round robin)', () => {
    const a = new CallIdAllocator();
    const first = a.allocate();
    expect(first).toBe(1);
    expect(a.release(1)).toBe(true);
    expect(a.inUse(1)).toBe(false);
    expect(a.allocate()).toBe(2);
    expect(a.size).toBe(1);
  });

  it('wraps from 65535 to 1, skipping IDs still in use', () => {
    const a = new CallIdAllocator();
    let wrong = 0;
    for (let i = 1; i <= 65535; i++) if (a.allocate() !== i) wrong++;
    expect(wrong).toBe(0);
    expect(a.size).toBe(65535);
    expect(a.allocate()).toBeNull();
    a.release(7);
    a.release(3);
    expect(a.allocate()).toBe(3);
    expect(a.allocate()).toBe(7);
    expect(a.allocate()).toBeNull();
    a.release(65535);
    expect(a.allocate()).toBe(65535);
  });

  it('release of an unknown or invalid ID is a no-op', () => {
    const a = new CallIdAllocator();
    a.allocate();
    expect(a.release(2)).toBe(false);
    expect(a.release(0)).toBe(false);
    expect(a.release(65536)).toBe(false);
    expect(a.release(1.5)).toBe(false);
    expect(a.size).toBe(1);
    expect(a.release(1)).toBe(true);
    expect(a.release(1)).toBe(false);
    expect(a.size).toBe(0);
  });
});
