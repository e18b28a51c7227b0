// docs/configuration.md is generated from the schema (config/ConfigReference.ts): it must not drift from
// it, and every key must be there with a description, its type and its default.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONFIG_REFERENCE_FILE, configReference } from '../../config/ConfigReference.js';
import { validateConfig } from '../../config/PorticoConfig.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** key -> [type, default, description] from the reference's tables. */
function rows(markdown: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of markdown.split('\n')) {
    const m = /^\| `([^`]+)` \| (.*) \|$/.exec(line);
    if (m) out.set(m[1]!, m[2]!.split(/ (?<!\\)\| /));
  }
  return out;
}

/** Dotted keys of every value in the embedded defaults (mappings walked, lists and scalars are leaves). */
function leafKeys(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [prefix];
  return Object.entries(value).flatMap(([k, v]) => leafKeys(v, prefix ? `${prefix}.${k}` : k));
}

describe('configuration reference', () => {
  it(`${CONFIG_REFERENCE_FILE} is what config/PorticoConfig.ts gives`, () => {
    const committed = readFileSync(join(REPO, CONFIG_REFERENCE_FILE), 'utf8');
    expect(committed, `${CONFIG_REFERENCE_FILE} differs from the schema in config/PorticoConfig.ts: run \`npm run docs:config\` and commit the file`).toBe(configReference());
  });

  it('has a row with a type and a description for every key', () => {
    const table = rows(configReference());
    const keys = [
      ...leafKeys(validateConfig({})),
      'ppp.mru',
      'radius.nasIpAddress',
      'radius.das',
      'radius.das.secret',
      'radius.das.clients',
      'admin.tls',
      'admin.tls.cert',
      'radius.servers[].address',
      'radius.servers[].secret',
    ];
    for (const key of keys) {
      expect(table.has(key), `no row for ${key}`).toBe(true);
    }
    for (const [key, [type, , description]] of table) {
      expect(type, `${key}: no type`).not.toBe('');
      expect(description!.length, `${key}: no description (add .describe() in config/PorticoConfig.ts)`).toBeGreaterThan(10);
    }
  });

  it('gives types and defaults as the schema has them', () => {
    const table = rows(configReference());
    expect(table.get('port')!.slice(0, 2)).toEqual(['integer 1-65535', '`1723`']);
    expect(table.get('tun.name')![1]).toBe('`pptp0`');
    expect(table.get('tun.address')!.slice(0, 2)).toEqual(['IPv4 address', '`10.99.0.1`']);
    expect(table.get('dns')!.slice(0, 2)).toEqual(['list of IPv4 addresses (at most 2)', '`[]`']);
    expect(table.get('auth.protocols')!.slice(0, 2)).toEqual(['list of values among `mschapv2`, `mschap`, `chap`, `pap` (at least 1)', '`[mschapv2]`']);
    expect(table.get('auth.minPasswordLength')!.slice(0, 2)).toEqual(['integer 1-256', '`8`']);
    expect(table.get('mppe.keyLengths')![0]).toBe('list of values among `40`, `56`, `128` (at least 1)');
    expect(table.get('dataPlane.threads')!.slice(0, 2)).toEqual(['integer 1-8 or `auto`', '`auto`']);
    expect(table.get('ppp.mru')![1]).toBe('unset');
    expect(table.get('radius.servers[].secret')!.slice(0, 2)).toEqual(['non-empty string', '*required*']);
    expect(table.get('log.format')!.slice(0, 2)).toEqual(['one of `auto`, `json`, `pretty`', '`auto`']);
  });
});
