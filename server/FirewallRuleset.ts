// The host firewall as `nft list ruleset` or `iptables-save` print it, read only far enough to say
// whether PPTP's two flows visibly reach the server (its TCP port, and IP protocol 47: GRE, RFC 2637
// §4.1, RFC 2784) and whether the pool's network is masqueraded. Conservative: a flow counts as
// blocked only when a rule names it with drop/reject, or an input chain drops by default (policy or
// a catch-all rule) and no rule anywhere in that table accepts it; anything not understood is left alone.
import { inNetwork, type Ipv4Network, networkMask } from '../config/AddressPolicy.js';
import { parseIpv4 } from '../config/Ipv4.js';

export type FirewallTool = 'nft' | 'iptables';
type Verdict = 'accept' | 'drop' | 'reject' | 'masquerade' | 'snat';

export interface FirewallRule {
  text: string;
  verdict: Verdict | null;
  /** TCP destination port ranges the rule matches; null: no port condition. */
  tcpPorts: Array<[number, number]> | null;
  /** IP protocols the rule names (tcp, gre, 47, ...); null: none. */
  protocols: string[] | null;
  /** The source network it matches; null: any. */
  source: Ipv4Network | null;
  /** Nothing but a drop or reject (counters and comments aside): every packet reaching it. */
  catchAll: boolean;
}

export interface FirewallChain {
  tool: FirewallTool;
  /** "inet filter" (nft family and name), "filter" or "nat" (iptables). */
  table: string;
  name: string;
  /** nft: filter, nat, route; iptables: the table's name. */
  type: string;
  /** Base chains: the hook (input, postrouting, ...); null for a chain reached by jump. */
  hook: string | null;
  policy: 'accept' | 'drop' | null;
  rules: FirewallRule[];
}

/** A flow of PPTP: its TCP control port or GRE. */
export type PptpFlow = { kind: 'tcp'; port: number } | { kind: 'gre' };

/** What blocks a flow: the rule (null: the chain's policy) and where. */
export interface FlowBlock {
  tool: FirewallTool;
  table: string;
  chain: string;
  rule: string | null;
}

const GRE_NAMES = ['gre', '47'];
const SERVICE_PORTS: Record<string, number> = { pptp: 1723 };

function network(text: string): Ipv4Network | null {
  const [address, bits] = text.split('/');
  try {
    const prefix = bits === undefined ? 32 : Number(bits);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) return null;
    return { address: (parseIpv4(address!) & networkMask(prefix)) >>> 0, prefix };
  } catch {
    return null;
  }
}

/** "1723", "1000-2000" (nft) or "1000:2000" (iptables), "pptp". */
function portRange(item: string): [number, number] | null {
  const named = SERVICE_PORTS[item];
  if (named !== undefined) return [named, named];
  const m = /^(\d+)(?:[-:](\d+))?$/.exec(item);
  return m ? [Number(m[1]), Number(m[2] ?? m[1])] : null;
}

/** An nft value or anonymous set: "1723", "{ 22, 1723 }". */
function items(value: string): string[] {
  return value
    .replace(/^\{|\}$/g, '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

const ranges = (list: string[]) => list.map(portRange).filter((r): r is [number, number] => r !== null);

function nftRule(text: string): FirewallRule {
  const verdicts = [...text.matchAll(/\b(accept|drop|reject|masquerade|snat)\b/g)];
  const ports = /\b(?:tcp|th) dport (\{[^}]*\}|\S+)/.exec(text);
  const protocols = /\b(?:ip protocol|meta l4proto) (\{[^}]*\}|\S+)/.exec(text);
  const source = /\bip saddr (\d+\.\d+\.\d+\.\d+(?:\/\d+)?)/.exec(text);
  const bare = text
    .replace(/\bcounter( packets \d+ bytes \d+)?/g, '')
    .replace(/\bcomment "[^"]*"/g, '')
    .trim();
  return {
    text,
    verdict: (verdicts.at(-1)?.[1] as Verdict | undefined) ?? null,
    tcpPorts: ports ? ranges(items(ports[1]!)) : null,
    protocols: protocols ? items(protocols[1]!) : /\btcp dport\b/.test(text) ? ['tcp'] : null,
    source: source ? network(source[1]!) : null,
    catchAll: /^(drop|reject( with .*)?)$/.test(bare),
  };
}

/** `nft list ruleset`: tables, their chains (base chains carry "type T hook H ... policy P;"), one rule a line. */
export function parseNftRuleset(text: string): FirewallChain[] {
  const chains: FirewallChain[] = [];
  let table = '';
  let chain: FirewallChain | null = null;
  let skipDepth = 0; // inside a set, map or other block that is not a chain
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (skipDepth > 0) {
      skipDepth += (line.match(/\{/g)?.length ?? 0) - (line.match(/\}/g)?.length ?? 0);
      continue;
    }
    const tableHead = /^table (\S+) (\S+) \{$/.exec(line);
    if (tableHead) {
      table = `${tableHead[1]} ${tableHead[2]}`;
      continue;
    }
    const chainHead = /^chain (\S+) \{$/.exec(line);
    if (chainHead) {
      chain = { tool: 'nft', table, name: chainHead[1]!, type: 'filter', hook: null, policy: null, rules: [] };
      chains.push(chain);
      continue;
    }
    if (chain === null) {
      if (line.endsWith('{')) skipDepth = 1;
      continue;
    }
    if (line === '}') {
      chain = null;
      continue;
    }
    const base = /^type (\S+) hook (\S+)/.exec(line);
    if (base) {
      chain.type = base[1]!;
      chain.hook = base[2]!;
      chain.policy = (/policy (accept|drop);/.exec(line)?.[1] as 'accept' | 'drop' | undefined) ?? 'accept';
      continue;
    }
    if (line !== '') chain.rules.push(nftRule(line));
  }
  return chains;
}

function iptablesRule(args: string): FirewallRule {
  const target = /(?:^|\s)-j (\S+)/.exec(args)?.[1]?.toLowerCase();
  const protocol = /(?:^|\s)-p (\S+)/.exec(args);
  const negated = /!\s+-p\s/.test(args);
  const dport = /--dport (\S+)/.exec(args);
  const dports = /--dports (\S+)/.exec(args);
  const source = /(?:^|\s)-s (\S+)/.exec(args);
  const bare = args
    .replace(/-m comment --comment ("[^"]*"|\S+)/g, '')
    .replace(/-c \d+ \d+/g, '')
    .trim();
  const verdict = (['accept', 'drop', 'reject', 'masquerade', 'snat'] as const).find((v) => v === target) ?? null;
  return {
    text: args,
    verdict,
    tcpPorts: dport ? ranges([dport[1]!]) : dports ? ranges(dports[1]!.split(',')) : null,
    protocols: protocol && !negated ? [protocol[1]!.toLowerCase()] : null,
    source: source ? network(source[1]!) : null,
    catchAll: /^-j (DROP|REJECT)\b/.test(bare),
  };
}

/** `iptables-save`: "*table", ":CHAIN POLICY [p:b]" ("-" for a chain reached by jump), "-A CHAIN ...", "COMMIT". */
export function parseIptablesSave(text: string): FirewallChain[] {
  const chains: FirewallChain[] = [];
  let table = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      table = line.slice(1);
      continue;
    }
    const head = /^:(\S+) (\S+)/.exec(line);
    if (head) {
      const builtIn = head[2] !== '-';
      chains.push({
        tool: 'iptables',
        table,
        name: head[1]!,
        type: table,
        hook: builtIn ? head[1]!.toLowerCase() : null,
        policy: builtIn ? (head[2] === 'DROP' ? 'drop' : 'accept') : null,
        rules: [],
      });
      continue;
    }
    const rule = /^-A (\S+) (.*)$/.exec(line);
    if (rule) chains.find((c) => c.table === table && c.name === rule[1])?.rules.push(iptablesRule(rule[2]!));
  }
  return chains;
}

function names(rule: FirewallRule, flow: PptpFlow): boolean {
  if (flow.kind === 'gre') return rule.protocols?.some((p) => GRE_NAMES.includes(p)) ?? false;
  const tcp = rule.protocols === null || rule.protocols.some((p) => p === 'tcp' || p === '6');
  return tcp && (rule.tcpPorts?.some(([from, to]) => flow.port >= from && flow.port <= to) ?? false);
}

const isDrop = (rule: FirewallRule) => rule.verdict === 'drop' || rule.verdict === 'reject';

/**
 * What drops `flow` on its way in, or null. Input base chains are walked in order (the first rule naming
 * the flow, or a catch-all, decides); chains reached by jump count only by rules naming the flow.
 */
export function flowBlock(chains: readonly FirewallChain[], flow: PptpFlow): FlowBlock | null {
  const filterInput = chains.filter((c) => c.hook === 'input' && c.type === 'filter');
  for (const input of filterInput) {
    const jumped = chains.filter((c) => c.tool === input.tool && c.table === input.table && c.hook === null);
    const acceptedElsewhere = jumped.some((c) => c.rules.some((r) => names(r, flow) && r.verdict === 'accept'));
    for (const c of jumped) {
      const first = c.rules.find((r) => names(r, flow) && (isDrop(r) || r.verdict === 'accept'));
      if (first && isDrop(first)) return { tool: c.tool, table: c.table, chain: c.name, rule: first.text };
    }
    let decided = false;
    for (const rule of input.rules) {
      if (names(rule, flow)) {
        if (rule.verdict === 'accept') {
          decided = true;
          break;
        }
        if (isDrop(rule)) return { tool: input.tool, table: input.table, chain: input.name, rule: rule.text };
      } else if (rule.catchAll) {
        if (acceptedElsewhere) decided = true;
        else return { tool: input.tool, table: input.table, chain: input.name, rule: rule.text };
        break;
      }
    }
    if (!decided && input.policy === 'drop' && !acceptedElsewhere) return { tool: input.tool, table: input.table, chain: input.name, rule: null };
  }
  return null;
}

/** A masquerade or SNAT rule on the way out whose source condition (if any) holds the whole of `pool`. */
export function masqueradeOf(chains: readonly FirewallChain[], pool: Ipv4Network): { tool: FirewallTool; rule: string } | null {
  for (const c of chains.filter((c) => c.type === 'nat')) {
    for (const rule of c.rules) {
      if (rule.verdict !== 'masquerade' && rule.verdict !== 'snat') continue;
      if (rule.source === null || (rule.source.prefix <= pool.prefix && inNetwork(rule.source, pool.address))) return { tool: c.tool, rule: rule.text };
    }
  }
  return null;
}

/** How an operator reads where a block is: `nft rule "tcp dport 1723 drop" (inet filter input)`. */
export function describeBlock(block: FlowBlock): string {
  const where = `${block.table} ${block.chain}`;
  return block.rule === null ? `the drop policy of ${block.tool} chain ${where}, and no rule accepts it` : `${block.tool} rule "${block.rule}" (${where})`;
}

/** The command that lets `flow` in before whatever blocks it. */
export function acceptCommand(block: FlowBlock, flow: PptpFlow): string {
  if (block.tool === 'nft') {
    const match = flow.kind === 'gre' ? 'meta l4proto gre' : `tcp dport ${flow.port}`;
    return `nft insert rule ${block.table} ${block.chain} ${match} accept`;
  }
  const match = flow.kind === 'gre' ? '-p gre' : `-p tcp --dport ${flow.port}`;
  return `iptables -I ${block.chain} ${match} -j ACCEPT`;
}
