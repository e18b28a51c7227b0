// server/NodeFlags.ts: every launcher of `portico serve` passes the same Node.js flags (npm start,
// the Docker image, the systemd unit).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVER_NODE_FLAGS } from '../../server/NodeFlags.js';

const file = (name: string) => readFileSync(new URL(`../../${name}`, import.meta.url), 'utf8');

describe('Node.js flags of the server', () => {
  it('npm start and the Docker image run the server with SERVER_NODE_FLAGS', () => {
    const start = (JSON.parse(file('package.json')) as { scripts: Record<string, string> }).scripts.start!;
    expect(start).toContain(`exec node ${SERVER_NODE_FLAGS.join(' ')} dist/server/cli.js serve`);
    const entrypoint = /^ENTRYPOINT (.*)$/m.exec(file('Dockerfile'))?.[1];
    expect(JSON.parse(entrypoint!)).toEqual(['node', ...SERVER_NODE_FLAGS, 'dist/server/cli.js']);
  });

  it('the systemd unit runs the server with SERVER_NODE_FLAGS', () => {
    const execStart = /^ExecStart=(.*)$/m.exec(file('contrib/systemd/portico.service'))?.[1];
    expect(execStart?.split(' ')).toEqual(['/opt/node-24/bin/node', ...SERVER_NODE_FLAGS, '/opt/portico/dist/server/cli.js', 'serve']);
  });
});
