// A log line names each field once. pino writes a child's bindings and the line's own fields side by
// side, so a field a child already carries (the connection's `peer`, a session's `callId`, `user`) given
// again on a line appears twice in the JSON; JSON.parse keeps the last, and log tools disagree on which.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlCode, encodeControlPacket, encodeOptions } from '../../ppp/ControlPacket.js';
import { PppProtocol } from '../../ppp/PppProtocol.js';
import { CLIENTS, closeHarnesses, harness, ping, POOL, until } from './SessionHarness.js';

afterEach(closeHarnesses);

/** The keys of a JSON object's top level, in order, repeats included (JSON.parse would fold them). */
function topLevelKeys(json: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === '"') {
      let end = i + 1;
      while (json[end] !== '"') end += json[end] === '\\' ? 2 : 1;
      let next = end + 1;
      while (json[next] === ' ') next++;
      if (depth === 1 && json[next] === ':') keys.push(JSON.parse(json.slice(i, end + 1)) as string);
      i = end;
    }
  }
  return keys;
}

describe('log lines', () => {
  it('the key scanner sees repeats that JSON.parse folds', () => {
    expect(topLevelKeys('{"a":1,"peer":"x","b":{"peer":2},"c":"\\"peer\\":","peer":"x"}')).toEqual(['a', 'peer', 'b', 'c', 'peer']);
  });

  it('a session from call to hang-up with an LCP renegotiation, and a refused login: no line repeats a key', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        cb();
      },
    });
    const h = await harness({ log: pino({ level: 'trace' }, sink) });
    const c = await h.connect(0);
    c.session.sendIp(ping(POOL.start, '198.18.100.1', 1));
    await until('the packet on the TUN', () => h.tun.written.length === 1);
    // An LCP renegotiation re-authenticates the same user: the session's `user` must stay bound once.
    const keys = c.session.keys;
    c.session.sendControlFrame(PppProtocol.LCP, encodeControlPacket(ControlCode.ConfigureRequest, 0x66, encodeOptions([{ type: 5, data: Buffer.from([1, 2, 3, 4]) }])));
    await until('the client up again after the renegotiation', () => c.session.isUp && c.session.keys !== keys);
    c.session.sendIp(ping(POOL.start, '198.18.100.1', 2));
    await until('a packet after it', () => h.tun.written.length === 2);
    const down = h.nextDown();
    c.session.stop();
    await down;
    await expect(h.connect(1, 'alice', 'wrong password!')).rejects.toThrow();
    await until('the log written', () => lines.some((l) => l.includes('PPTP: control connection closed by peer')));

    const repeated = lines.flatMap((line) => {
      const keys = topLevelKeys(line);
      const twice = keys.filter((k, i) => keys.indexOf(k) !== i);
      return twice.length > 0 ? [`${twice.join(', ')} in ${line}`] : [];
    });
    expect(repeated).toEqual([]);
    // The connection's lines still say which peer (bound once by the listener).
    const fromPeer = lines.filter((l) => l.includes('PPTP: control connection closed by peer'));
    expect(fromPeer.length).toBeGreaterThan(0);
    for (const l of fromPeer) expect(CLIENTS).toContain((JSON.parse(l) as { peer: string }).peer);
    expect(lines.length).toBeGreaterThan(20);
  });
});
