// log.format: pretty text for a terminal (server/TerminalLog.ts), JSON otherwise; what pino redacts stays
// redacted, and what a peer chose cannot drive the terminal.
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../config/PorticoConfig.js';
import { chooseLogFormat, createLogger } from '../../server/Logger.js';
import { formatLogLine, TerminalLog } from '../../server/TerminalLog.js';

function prettyLogger(colours = false) {
  const lines: string[] = [];
  const log = createLogger('debug', new TerminalLog({ write: (text) => lines.push(text) }, colours));
  return { log, lines };
}

describe('log.format', () => {
  it('auto is pretty on a terminal and JSON elsewhere; json and pretty are what they say', () => {
    expect(validateConfig({}).log.format).toBe('auto');
    expect(chooseLogFormat('auto', true)).toBe('pretty');
    expect(chooseLogFormat('auto', false)).toBe('json');
    expect(chooseLogFormat('json', true)).toBe('json');
    expect(chooseLogFormat('pretty', false)).toBe('pretty');
    expect(() => validateConfig({ log: { format: 'text' } })).toThrow(/log\.format: .*auto.*json.*pretty/);
  });

  it('pretty: time, level, message, then key=value, one line each', () => {
    const { log, lines } = prettyLogger();
    log.child({ peer: '198.18.0.2', callId: 7 }).info({ user: 'alice', up: true, rates: [1, 2] }, 'session up');
    log.warn('plain warning');
    log.debug({ note: 'two words' }, 'detail');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}session up peer=198\.18\.0\.2 callId=7 user=alice up=true rates=\[1,2\]\n$/);
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN {2}plain warning\n$/);
    expect(lines[2]).toMatch(/ DEBUG detail note="two words"\n$/);
    expect(lines.join('')).not.toContain('app=');
  });

  it('pretty: an error shows its message and code on the line and its stack below', () => {
    const { log, lines } = prettyLogger();
    const err = Object.assign(new Error('bind failed'), { code: 'EADDRINUSE' });
    log.error({ err }, 'listener failed');
    const [first, ...frames] = lines[0]!.trimEnd().split('\n');
    expect(first).toMatch(/ ERROR listener failed err="bind failed" err\.code=EADDRINUSE$/);
    expect(frames.length).toBeGreaterThan(0);
    expect(frames[0]).toMatch(/^ {4}at /);
  });

  it('pretty: redaction holds, and control characters a peer sent are escaped', () => {
    const { log, lines } = prettyLogger();
    log.info({ user: 'evil\u001b]0;owned\u0007', password: 'hunter22' }, 'login refused for \u001b[2Jx\u202eexe.txt');
    expect(lines[0]).toContain('password=[redacted]');
    expect(lines[0]).not.toContain('hunter22');
    expect(lines[0]).toContain('login refused for \\u001b[2Jx\\u202eexe.txt');
    expect(lines[0]).toContain('user="evil\\u001b]0;owned\\u0007"');
    const raw = [...lines[0]!].filter((c) => (c < ' ' && c !== '\n') || c === '\u202e');
    expect(raw).toEqual([]);
  });

  it('pretty with colours: only the level is coloured', () => {
    const { log, lines } = prettyLogger(true);
    log.warn({ n: 1 }, 'careful');
    const esc = '\u001b';
    expect(lines[0]!.slice(0, 13)).toMatch(/^\d\d:\d\d:\d\d\.\d{3} $/);
    expect(lines[0]!.slice(13)).toBe(`${esc}[33mWARN ${esc}[0m careful n=1\n`);
  });

  it('a line that is not a JSON object passes through, escaped', () => {
    expect(formatLogLine('not json \u001b[31m\n')).toBe('not json \\u001b[31m\n');
    expect(formatLogLine('[1,2]\n')).toBe('[1,2]\n');
  });
});
