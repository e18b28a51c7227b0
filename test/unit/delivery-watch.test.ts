import { describe, expect, it } from 'vitest';
import { DeliveryWatch, STUCK_SWEEPS } from '../../session/DeliveryWatch.js';

describe('DeliveryWatch: a session that receives GRE but delivers nothing', () => {
  it(`is flagged after ${STUCK_SWEEPS} sweeps of frames without delivery, and cleared by the first delivery`, () => {
    const w = new DeliveryWatch();
    expect(w.observe(10, 10)).toBe(null); // flowing
    expect(w.observe(20, 20)).toBe(null);
    expect(w.observe(25, 20)).toBe(null); // one quiet sweep: could be a burst of drops
    expect(w.stuck).toBe(false);
    expect(w.observe(30, 20)).toBe('stuck');
    expect(w.stuck).toBe(true);
    expect(w.observe(40, 20)).toBe(null); // said once
    expect(w.observe(41, 21)).toBe('recovered');
    expect(w.stuck).toBe(false);
  });

  it('an idle session (nothing arriving) is never stuck; quiet sweeps must be consecutive', () => {
    const w = new DeliveryWatch();
    for (let i = 0; i < 10; i++) expect(w.observe(0, 0)).toBe(null);
    expect(w.observe(5, 0)).toBe(null);
    expect(w.observe(5, 0)).toBe(null); // nothing arrived: not a quiet sweep in a row
    expect(w.observe(9, 0)).toBe(null);
    expect(w.stuck).toBe(false);
    expect(w.observe(12, 0)).toBe('stuck');
  });
});
