// Everything RADIUS, built from the configuration in one place for main.ts: the client (failover,
// dead-time, BlastRADIUS policy), the user backend per auth.backend, accounting (queue + accountant)
// and the Dynamic Authorization server (RFC 5176).
import type { Logger } from 'pino';
import type { AddressPolicy } from '../config/AddressPolicy.js';
import type { PorticoConfig } from '../config/PorticoConfig.js';
import type { ExtendedAuthenticator } from '../ppp/Authenticator.js';
import { DasServer } from '../radius/DasServer.js';
import { AcctAuthentic } from '../radius/Dictionary.js';
import { RadiusClient, type RadiusClientSettings } from '../radius/RadiusClient.js';
import { Accountant } from './Accountant.js';
import { AccountingQueue, accountingQueueFile } from './AccountingQueue.js';
import { FallbackAuthenticator } from './FallbackAuthenticator.js';
import { RadiusAuthenticator, type RadiusAuthenticatorOptions } from './RadiusAuthenticator.js';
import type { SessionManager } from '../session/SessionManager.js';
import { DynamicAuthorization } from './DynamicAuthorization.js';
import type { NasIdentity } from './NasAttributes.js';

/** Configuration choices that weaken RADIUS security, in words for the log and the panel. */
export function radiusSecurityWarnings(config: PorticoConfig): string[] {
  const warnings: string[] = [];
  if (config.radius.servers.length > 0 && !config.radius.requireMessageAuthenticator) {
    warnings.push(
      'radius.requireMessageAuthenticator is false: Access-Accept/Reject without a Message-Authenticator are trusted, ' +
        'so anyone on the path to the RADIUS server can forge an Accept (BlastRADIUS, CVE-2024-3596). ' +
        'Make the RADIUS server sign its replies and set it back to true.',
    );
  }
  const das = config.radius.das;
  if (das && !das.requireMessageAuthenticator) {
    warnings.push('radius.das.requireMessageAuthenticator is false: Disconnect/CoA requests without a Message-Authenticator are accepted (signed by the MD5 Request Authenticator only).');
  }
  if (das && !das.requireEventTimestamp) {
    warnings.push(
      'radius.das.requireEventTimestamp is false: Disconnect/CoA requests without an Event-Timestamp are accepted, ' +
        'and such a request captured on the path can be replayed to act again 300 s after it was first handled. ' +
        'Make the Dynamic Authorization Client send Event-Timestamp and set it back to true.',
    );
  }
  return warnings;
}

export class RadiusServices {
  /** The user backend to hand to PptpServer, or null when auth.backend is local. */
  readonly authenticator: ExtendedAuthenticator | null;
  private readonly client: RadiusClient | null;
  private readonly radiusAuthenticator: RadiusAuthenticator | null;
  private readonly queue: AccountingQueue | null;
  private readonly nas: NasIdentity;
  private accountant: Accountant | null = null;
  private das: DasServer | null = null;
  private stopped = false;

  /** Server state for the panel and metrics; the DAS listener when it runs. */
  serverStates(): Array<{ server: string; role: 'auth' | 'acct' | 'das'; state: 'up' | 'dead' | 'unknown'; lastRttMs: number | null; detail?: string }> {
    const states: ReturnType<RadiusServices['serverStates']> = (this.client?.serverHealth() ?? []).map((h) => ({
      server: h.server,
      role: h.role,
      state: h.state,
      lastRttMs: h.lastRttMs,
      ...(h.consecutiveTimeouts > 0 ? { detail: `${h.consecutiveTimeouts} unanswered in a row` } : {}),
    }));
    const das = this.config.radius.das;
    if (das) states.push({ server: `${das.listen}:${das.port}`, role: 'das', state: this.das ? 'up' : 'unknown', lastRttMs: null, detail: 'Disconnect/CoA listener' });
    return states;
  }

  private constructor(
    private config: PorticoConfig,
    local: ExtendedAuthenticator,
    addresses: AddressPolicy,
    private readonly log: Logger,
  ) {
    const r = config.radius;
    const nas: NasIdentity = { nasIdentifier: r.nasIdentifier, ...(r.nasIpAddress ? { nasIpAddress: r.nasIpAddress } : {}) };
    this.nas = nas;
    for (const w of radiusSecurityWarnings(config)) log.warn({ security: w.startsWith('radius.das.') ? 'DAS replay' : 'BlastRADIUS' }, w);
    this.client = r.servers.length === 0 ? null : new RadiusClient({ ...radiusClientSettings(config), nasIdentifier: r.nasIdentifier, log: log.child({ layer: 'radius' }) });
    const backend = config.auth.backend;
    if (this.client && backend !== 'local') {
      const authLog = log.child({ layer: 'radius-auth' });
      const radius = new RadiusAuthenticator({
        client: this.client,
        nas,
        mppe: mppePolicy(config),
        addresses,
        onUnavailable: backend === 'radius-then-local' ? 'throw' : 'reject',
        log: authLog,
      });
      this.authenticator = backend === 'radius-then-local' ? new FallbackAuthenticator(radius, local, authLog) : radius;
      this.radiusAuthenticator = radius;
    } else {
      this.authenticator = null;
      this.radiusAuthenticator = null;
    }
    this.queue =
      this.client && r.accounting
        ? new AccountingQueue({
            file: accountingQueueFile(config.dataDir),
            transport: this.client,
            log: log.child({ layer: 'accounting' }),
            maxBackoffMs: r.accountingRetryMax * 1000,
          })
        : null;
    log.info(
      {
        backend,
        servers: r.servers.map((s) => `${s.address}:${s.authPort}/${s.acctPort}`),
        requireMessageAuthenticator: r.requireMessageAuthenticator,
        accounting: this.queue !== null,
        das: r.das ? `${r.das.listen}:${r.das.port}` : undefined,
        ...(r.das ? { dasRequireMessageAuthenticator: r.das.requireMessageAuthenticator, dasRequireEventTimestamp: r.das.requireEventTimestamp } : {}),
      },
      'RADIUS configured',
    );
  }

  /**
   * A reloaded configuration (server/ConfigReload.ts): servers, secrets, timers, the BlastRADIUS policy,
   * the MPPE policy replies are checked against, the accounting back-off and the default interim
   * interval, for the next requests and sessions. The accounting queue keeps every record: what is in
   * flight finishes or is retried, towards the servers in force then. Whether RADIUS runs at all,
   * auth.backend, accounting, the NAS identity and the Disconnect/CoA listener need a restart.
   */
  reconfigure(config: PorticoConfig): void {
    this.config = config;
    this.client?.reconfigure(radiusClientSettings(config));
    this.radiusAuthenticator?.reconfigure(mppePolicy(config));
    this.queue?.reconfigure({ maxBackoffMs: config.radius.accountingRetryMax * 1000 });
    this.accountant?.reconfigure({ interimInterval: config.radius.interimInterval });
    for (const w of radiusSecurityWarnings(config)) this.log.warn({ security: w.startsWith('radius.das.') ? 'DAS replay' : 'BlastRADIUS' }, w);
  }

  /** Null when the configuration uses no RADIUS at all (no servers, no Dynamic Authorization). */
  static create(config: PorticoConfig, deps: { local: ExtendedAuthenticator; addresses: AddressPolicy; log: Logger }): RadiusServices | null {
    if (config.radius.servers.length === 0 && !config.radius.das) return null;
    return new RadiusServices(config, deps.local, deps.addresses, deps.log);
  }

  /** Accounting-On and session accounting, then the Disconnect/CoA listener; call before server.listen(). */
  async attach(server: SessionManager): Promise<void> {
    const r = this.config.radius;
    if (this.queue) {
      const backend = this.config.auth.backend;
      this.accountant = new Accountant({
        server,
        queue: this.queue,
        nas: this.nas,
        local: this.config.listen,
        interimInterval: r.interimInterval,
        ...(backend === 'radius' ? { authentic: AcctAuthentic.Radius } : backend === 'local' ? { authentic: AcctAuthentic.Local } : {}),
        log: this.log.child({ layer: 'accounting' }),
      });
      if (r.interimInterval > 0 && r.interimInterval < 60) {
        this.log.warn({ interimInterval: r.interimInterval }, 'radius.interimInterval below 60 s (RFC 2869 §5.16 minimum for servers)');
      }
      this.accountant.start();
      this.queue.start();
    }
    if (r.das) {
      const clients = r.das.clients ?? [...new Set(r.servers.map((s) => s.address))];
      if (clients.length === 0) {
        this.log.warn({}, 'radius.das is set but no client may send to it (no radius.das.clients, no radius.servers)');
      }
      const dynamic = new DynamicAuthorization({ server, log: this.log.child({ layer: 'das' }) });
      this.das = new DasServer({
        clients: clients.map((address) => ({ address, secret: r.das!.secret })),
        handler: dynamic.handler,
        bindAddress: r.das.listen,
        port: r.das.port,
        requireMessageAuthenticator: r.das.requireMessageAuthenticator,
        requireEventTimestamp: r.das.requireEventTimestamp,
        ...(r.nasIpAddress ? { nasIpAddress: r.nasIpAddress } : {}),
        nasIdentifier: r.nasIdentifier,
        log: this.log.child({ layer: 'das' }),
      });
      const bound = await this.das.listen();
      this.log.info({ listen: `${bound.address}:${bound.port}`, clients }, 'accepting RADIUS Disconnect/CoA requests');
    }
  }

  /**
   * After the sessions have ended: Stops for what is left and Accounting-Off, a wait of at most `timeoutMs`
   * for the queue to be acknowledged, then close. What is not acknowledged by then is sent at the next start.
   */
  async stop(timeoutMs = 1500): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const until = Date.now() + timeoutMs;
    await this.das?.close();
    this.accountant?.stop();
    if (this.queue) {
      const delivered = await this.queue.drain(Math.max(0, until - Date.now()));
      if (!delivered) this.log.warn({ pending: this.queue.size }, 'accounting not all acknowledged before stopping: the rest is sent at the next start');
    }
    this.client?.close();
    await this.queue?.close();
  }
}

/** radius.* as the client's servers and timers (what a reload may change). */
function radiusClientSettings(config: PorticoConfig): RadiusClientSettings {
  const r = config.radius;
  return {
    servers: r.servers.map((s) => ({ address: s.address, authPort: s.authPort, acctPort: s.acctPort, secret: s.secret })),
    timeoutMs: Math.round(r.timeout * 1000),
    tries: r.tries,
    deadTimeSec: r.deadTime,
    statusIntervalSec: r.statusInterval,
    requireMessageAuthenticator: r.requireMessageAuthenticator,
  };
}

/** mppe.* as what an Access-Accept may not weaken. */
function mppePolicy(config: PorticoConfig): RadiusAuthenticatorOptions['mppe'] {
  return { required: config.mppe.required, keyLengths: config.mppe.keyLengths };
}
