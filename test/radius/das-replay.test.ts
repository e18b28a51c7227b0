// A real Dynamic Authorization Client (FreeRADIUS 3.2.1's radclient, `bash test/lab/radius/freeradius.sh
// install`) against our DasServer with its default replay protection. radclient cannot send a packet
// twice across runs (each run picks a new Identifier), so a small UDP proxy between the two captures
// the Disconnect-Request's bytes and the test replays them later, as an attacker on the path would.
// Time is Date.now, faked (vitest): "11 s" and "200 s" later take no real waiting. Only 127.0.0.1.
import { execFile } from 'node:child_process';
import type { RemoteInfo, Socket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RadiusCode } from '../../radius/RadiusPacket.js';
import { ask, DAS_SECRET as SECRET, dasHarness } from '../unit/DasHarness.js';

const T0 = Date.UTC(2031, 4, 6, 12, 0, 0);
const T0_SEC = Math.floor(T0 / 1000);
const { startDas, socket, at } = dasHarness(T0);

const work = mkdtempSync(path.join(tmpdir(), 'portico-das-replay-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

beforeAll(async () => {
  const version = await radclient(['-v'], '').catch(() => ({ status: -1, out: '' }));
  if (!/radclient version 3\./.test(version.out)) throw new Error('radclient (FreeRADIUS 3) not found: bash test/lab/radius/freeradius.sh install');
});

/** radclient → proxy → DAS and back; every request datagram is kept. `socket` is the proxy's side towards the DAS. */
async function proxyTo(dasPort: number): Promise<{ port: number; requests: Buffer[]; socket: Socket }> {
  const front = await socket();
  const back = await socket();
  const requests: Buffer[] = [];
  let client: RemoteInfo | undefined;
  front.on('message', (msg, rinfo) => {
    requests.push(Buffer.from(msg));
    client = rinfo;
    back.send(msg, dasPort, '127.0.0.1');
  });
  back.on('message', (msg) => {
    if (client) front.send(msg, client.port, client.address);
  });
  return { port: front.address().port, requests, socket: back };
}

let inputs = 0;
/** radclient with its packet from a file (-f); never blocks the event loop our DasServer answers from. */
function radclient(args: string[], input: string): Promise<{ status: number; out: string }> {
  const file = path.join(work, `input-${++inputs}`);
  if (input) writeFileSync(file, `${input}\n`);
  return new Promise((resolve, reject) => {
    execFile('radclient', [...(input ? ['-f', file] : []), ...args], (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ status: err ? (err.code as number) : 0, out: stdout + stderr });
    });
  });
}

const disconnect = (port: number, input: string) => radclient(['-x', '-r', '1', '-t', '1', `127.0.0.1:${port}`, 'disconnect', SECRET], input);

describe('radclient → DasServer: replay protection by default', () => {
  it('a signed, dated Disconnect-Request is acted on once: its captured bytes replayed 11 s and 200 s later (from its source port and from another) get no reply and no second action; 301 s later the window refuses it', async () => {
    const das = await startDas();
    const proxy = await proxyTo(das.port);
    const first = await disconnect(proxy.port, `User-Name=alice,Acct-Session-Id=pptp-0001,Event-Timestamp=${T0_SEC},Message-Authenticator=0x00`);
    expect(first.out).toMatch(/Received Disconnect-ACK/);
    expect(first.status).toBe(0);
    expect(proxy.requests).toHaveLength(1);
    const captured = proxy.requests[0];
    expect(captured[0]).toBe(RadiusCode.DisconnectRequest);
    expect(das.calls).toHaveLength(1);
    expect(das.calls[0]).toMatchObject({ userName: 'alice', acctSessionId: 'pptp-0001', hasMessageAuthenticator: true, eventTimestamp: new Date(T0_SEC * 1000) });

    const stranger = await socket();
    for (const later of [11_000, 200_000]) {
      at(later);
      expect(await ask(proxy.socket, captured, das.port), `from the original source port after ${later / 1000} s`).toBeUndefined();
      expect(await ask(stranger, captured, das.port), `from another port after ${later / 1000} s`).toBeUndefined();
    }
    at(301_000);
    expect(await ask(stranger, captured, das.port)).toBeUndefined();
    expect(das.calls).toHaveLength(1);
    expect(das.logs.filter((l) => l.msg === 'DAS request already handled (replay), dropped')).toHaveLength(4);
    expect(das.logs.map((l) => l.msg)).toContain('DAS request outside the Event-Timestamp window (replay or clock skew), dropped');
  });

  it('without Event-Timestamp: Disconnect-NAK Missing-Attribute (402); without Message-Authenticator: no reply; neither is acted on. Relaxed (requireEventTimestamp: false) the undated one is acted on', async () => {
    const das = await startDas();
    const undated = await disconnect(das.port, 'User-Name=alice,Acct-Session-Id=pptp-0001,Message-Authenticator=0x00');
    expect(undated.out).toMatch(/Received Disconnect-NAK/);
    expect(undated.out).toMatch(/Error-Cause = Missing-Attribute/);
    expect(undated.status).not.toBe(0);
    const unsigned = await disconnect(das.port, `User-Name=alice,Acct-Session-Id=pptp-0001,Event-Timestamp=${T0_SEC}`);
    expect(unsigned.out).toMatch(/No reply from server/);
    expect(das.calls).toHaveLength(0);

    const relaxed = await startDas({ requireEventTimestamp: false });
    const accepted = await disconnect(relaxed.port, 'User-Name=alice,Acct-Session-Id=pptp-0001,Message-Authenticator=0x00');
    expect(accepted.out).toMatch(/Received Disconnect-ACK/);
    expect(relaxed.calls).toHaveLength(1);
  });
});
