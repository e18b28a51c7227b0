// Prometheus exposition (/metrics) through prom-client. Counts come from the core's events and,
// at scrape time, from its live view. No user names unless admin.metricsUsernames: a label per
// user is both a privacy leak and a cardinality risk.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { AdminCore, AdminSessionDrops, AdminSessionEnded } from './AdminCore.js';

/** Bounded label values: a misbehaving backend must not grow the series without end. */
const MAX_REASONS = 50;

export class AdminMetrics {
  readonly registry = new Registry();
  /** Traffic of sessions that have ended, so that the totals stay monotonic. */
  private readonly ended = { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 };
  /** Per-session drops of sessions that have ended, for the same reason. */
  private readonly endedDrops: AdminSessionDrops = { rxSpoofed: 0, rxUndecryptable: 0, rxNotReady: 0, rxRekeyLimited: 0, rxControlLimited: 0, txDropped: 0 };
  private readonly reasons = new Set<string>();
  private readonly detach: () => void;

  constructor(core: AdminCore, options: { usernames: boolean; processMetrics?: boolean }) {
    const registers = [this.registry];
    const ended = this.ended;
    const endedDrops = this.endedDrops;
    new Gauge({
      name: 'portico_sessions',
      help: 'PPTP sessions now established or being set up.',
      registers,
      collect() {
        this.set(core.sessions().length);
      },
    });
    new Gauge({
      name: 'portico_sessions_stuck',
      help: 'Sessions that receive GRE from their client but have delivered nothing for 10 s or more.',
      registers,
      collect() {
        this.set(core.sessions().filter((s) => s.stuck).length);
      },
    });
    const setups = new Counter({ name: 'portico_session_setups_total', help: 'Sessions that reached the network phase.', registers });
    const failures = new Counter({
      name: 'portico_session_failures_total',
      help: 'Refused logins, by reason.',
      labelNames: ['reason'],
      registers,
    });
    const ends = new Counter({ name: 'portico_session_ends_total', help: 'Ended sessions, by RADIUS Acct-Terminate-Cause.', labelNames: ['cause'], registers });
    const totals = (rxField: 'rxBytes' | 'rxPackets', txField: 'txBytes' | 'txPackets') => {
      const live = core.sessions();
      return {
        in: ended[rxField] + live.reduce((n, s) => n + s[rxField], 0),
        out: ended[txField] + live.reduce((n, s) => n + s[txField], 0),
      };
    };
    new Counter({
      name: 'portico_traffic_bytes_total',
      help: 'IP bytes through the tunnels; direction in: from clients, out: to clients.',
      labelNames: ['direction'],
      registers,
      collect() {
        const t = totals('rxBytes', 'txBytes');
        this.reset();
        this.inc({ direction: 'in' }, t.in);
        this.inc({ direction: 'out' }, t.out);
      },
    });
    new Counter({
      name: 'portico_traffic_packets_total',
      help: 'IP packets through the tunnels; direction in: from clients, out: to clients.',
      labelNames: ['direction'],
      registers,
      collect() {
        const t = totals('rxPackets', 'txPackets');
        this.reset();
        this.inc({ direction: 'in' }, t.in);
        this.inc({ direction: 'out' }, t.out);
      },
    });
    new Counter({
      name: 'portico_dataplane_drops_total',
      help: "Packets the data plane dropped, by reason (the data path's own, then the sessions' rx/tx ones).",
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(core.health().dataPlane)) this.inc({ reason }, n);
        const live = core.sessions();
        for (const reason of Object.keys(endedDrops) as Array<keyof AdminSessionDrops>) {
          this.inc({ reason }, endedDrops[reason] + live.reduce((n, s) => n + s.drops[reason], 0));
        }
      },
    });
    new Counter({
      name: 'portico_dataplane_thread_restarts_total',
      help: 'Data-plane threads restarted after a failure; the sessions they carried were ended (dataplane-failure).',
      registers,
      collect() {
        this.reset();
        this.inc(core.health().dataPlaneThreadRestarts);
      },
    });
    new Gauge({
      name: 'portico_pool_addresses',
      help: 'Addresses of the pool, by state.',
      labelNames: ['state'],
      registers,
      collect() {
        const { size, used } = core.health().pool;
        this.set({ state: 'used' }, used);
        this.set({ state: 'free' }, Math.max(0, size - used));
      },
    });
    new Counter({
      name: 'portico_login_throttled_total',
      help: 'Logins refused without asking the user backend: too many failed logins (auth.throttle) or a banned address.',
      registers,
      collect() {
        this.reset();
        this.inc(core.loginCounters().throttled);
      },
    });
    new Counter({
      name: 'portico_address_bans_total',
      help: 'Client addresses banned, automatically (auth.throttle.banAfter) or from the console.',
      registers,
      collect() {
        this.reset();
        this.inc(core.loginCounters().bans);
      },
    });
    new Counter({
      name: 'portico_ban_refusals_total',
      help: 'Connections, calls and logins turned away because their address was banned.',
      registers,
      collect() {
        this.reset();
        this.inc(core.loginCounters().banRefusals);
      },
    });
    new Gauge({
      name: 'portico_banned_addresses',
      help: 'Client addresses banned now.',
      registers,
      collect() {
        this.set(core.bans.list().length);
      },
    });
    if (core.radiusServers) {
      const servers = () => core.radiusServers?.() ?? [];
      new Gauge({
        name: 'portico_radius_rtt_seconds',
        help: 'Last RADIUS request → reply time, per server.',
        labelNames: ['server', 'role'],
        registers,
        collect() {
          this.reset();
          for (const s of servers()) if (s.lastRttMs !== null) this.set({ server: s.server, role: s.role }, s.lastRttMs / 1000);
        },
      });
      new Gauge({
        name: 'portico_radius_server_up',
        help: '1 when the RADIUS server answers, 0 while it is skipped as dead.',
        labelNames: ['server', 'role'],
        registers,
        collect() {
          this.reset();
          for (const s of servers()) if (s.state !== 'unknown') this.set({ server: s.server, role: s.role }, s.state === 'up' ? 1 : 0);
        },
      });
    }
    if (options.usernames) {
      new Gauge({
        name: 'portico_user_sessions',
        help: 'Live sessions per user (admin.metricsUsernames is on).',
        labelNames: ['user'],
        registers,
        collect() {
          this.reset();
          const counts = new Map<string, number>();
          for (const s of core.sessions()) if (s.user) counts.set(s.user, (counts.get(s.user) ?? 0) + 1);
          for (const [user, n] of counts) this.set({ user }, n);
        },
      });
      new Gauge({
        name: 'portico_user_traffic_bytes',
        help: "IP bytes of each user's live sessions (admin.metricsUsernames is on).",
        labelNames: ['user', 'direction'],
        registers,
        collect() {
          this.reset();
          for (const s of core.sessions()) {
            if (!s.user) continue;
            this.inc({ user: s.user, direction: 'in' }, s.rxBytes);
            this.inc({ user: s.user, direction: 'out' }, s.txBytes);
          }
        },
      });
    }
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'portico_' });

    const onUp = () => setups.inc();
    const onDown = (s: AdminSessionEnded) => {
      ended.rxBytes += s.rxBytes;
      ended.txBytes += s.txBytes;
      ended.rxPackets += s.rxPackets;
      ended.txPackets += s.txPackets;
      for (const reason of Object.keys(endedDrops) as Array<keyof AdminSessionDrops>) endedDrops[reason] += s.drops[reason];
      ends.inc({ cause: s.cause });
    };
    const onFailure = (f: { reason: string }) => failures.inc({ reason: this.reasonLabel(f.reason) });
    core.on('session-up', onUp);
    core.on('session-down', onDown);
    core.on('auth-failure', onFailure);
    this.detach = () => {
      core.off('session-up', onUp);
      core.off('session-down', onDown);
      core.off('auth-failure', onFailure);
    };
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.detach();
    this.registry.clear();
  }

  /** "E=691: wrong password" → "wrong password"; unseen reasons past the cap → "other". */
  private reasonLabel(reason: string): string {
    const label = reason.replace(/^E=\d+:\s*/, '').slice(0, 60);
    if (this.reasons.has(label)) return label;
    if (this.reasons.size >= MAX_REASONS) return 'other';
    this.reasons.add(label);
    return label;
  }
}
