// The one place where the layers are wired together: config → users → TUN + raw GRE → data
// plane → session layer (with the PPP policy built here) → PPTP control listener → the reloader
// (SIGHUP). Everything else receives what it needs through its constructor, and a reload hands the
// subsystems their new part through their reconfigure methods (server/ConfigReload.ts).
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseIpv4 } from '../config/Ipv4.js';
import { addressPolicyFor, interfaceAddresses, tunnelNetwork } from '../config/AddressPolicy.js';
import { EMBEDDED_DEFAULTS, loadConfig, type PorticoConfig, validateConfig } from '../config/PorticoConfig.js';
import type { ExtendedAuthenticator } from '../ppp/Authenticator.js';
import { AddressBans } from '../aaa/AddressBans.js';
import { LocalAuthenticator } from '../aaa/LocalAuthenticator.js';
import { LoginGuard, ThrottledAuthenticator } from '../aaa/ThrottledAuthenticator.js';
import { openDataPlane } from '../dataplane/DataPlaneThreads.js';
import { createLogger, logDestination } from './Logger.js';
import { SessionManager } from '../session/SessionManager.js';
import { TunnelAddresses } from '../session/TunnelAddresses.js';
import { ConfigReloader } from './ConfigReload.js';
import { ControlListener } from './ControlListener.js';
import { banPolicy, callLimits, connectionLimits, DESCRIPTOR_RESERVE, descriptorLimit, loginThrottlePolicy } from './Limits.js';
import { pppPolicy } from './PppPolicy.js';
import { runShutdown } from './Shutdown.js';
import { UserStore } from '../aaa/UserStore.js';
import { secureDataDirectory } from '../config/DataDirectory.js';
import { refuseNewerSchemas } from '../config/SchemaMigrations.js';
import { DATA_SCHEMAS } from './DataSchemas.js';
import { claimDataDir, claimTunName } from './InstanceLock.js';
import { checkConsoleCertificate, checkPorts } from './StartupChecks.js';
import { checkHostAtStart, systemProbes } from './HostChecks.js';
import { NetworkSetup, networkSetupOptions } from './NetworkSetup.js';

export async function runServer(config: PorticoConfig, source: string): Promise<void> {
  const log = createLogger(config.log.level, logDestination(config.log.format));
  log.info({ config: source, dataDir: config.dataDir }, 'Portico starting');
  if (!config.mppe.required) log.warn('mppe.required is false: sessions may run without encryption');
  if (config.mppe.keyLengths.some((b) => b < 128)) log.warn({ keyLengths: config.mppe.keyLengths }, 'weak MPPE key lengths allowed');
  if (config.auth.protocols.some((p) => p !== 'mschapv2')) log.warn({ protocols: config.auth.protocols }, 'weak authentication protocols allowed (MS-CHAPv1, CHAP-MD5, PAP)');

  // SIGHUP's default is to end the process: until the reloader exists, one is only noted.
  const earlyReload = () => log.warn('SIGHUP before the server is ready: ignored (send it again after "Portico ready")');
  process.on('SIGHUP', earlyReload);

  // Refusals first, before the TUN, the databases, the admin account or a port (one line each, no stack trace).
  checkConsoleCertificate(config);
  // What the host must give (server/HostChecks.ts, as `portico doctor`): a fatal finding refuses the start,
  // warnings (no forwarding, no DNS, a firewall dropping GRE, ...) are logged and shown on the console's audit card.
  const hostWarnings = await checkHostAtStart(config, systemProbes(), log);
  // One instance per TUN name and data directory (server/InstanceLock.ts).
  const claims = [await claimTunName(config.tun.name, config.dataDir)];
  const dataDirectory = secureDataDirectory(config.dataDir, log);
  claims.push(claimDataDir(config.dataDir));
  // A database written by a newer Portico stops the start here, not when the console opens it later.
  refuseNewerSchemas(config.dataDir, DATA_SCHEMAS);
  await checkPorts(config);
  // Static and RADIUS addresses: the pool, the tunnel network, pool.allowedStaticRanges; never the server's own.
  const addressPolicy = addressPolicyFor(config, interfaceAddresses());
  log.info(addressPolicy.describe(), 'static addresses');
  const users = new UserStore(config.dataDir, addressPolicy, config.auth.minPasswordLength);
  // The TUN's prefix covers the pool, so pool addresses need no route of their own.
  const { tunAddress, prefix: tunPrefix } = tunnelNetwork(config);
  const data = openDataPlane(config, parseIpv4(config.listen), tunAddress, tunPrefix, log);
  const { dataPlane, tun } = data;
  // The user backend. Each optional service below adds itself here and in `stoppers` (stopped in reverse order).
  let authenticator: ExtendedAuthenticator = new LocalAuthenticator(users);
  const stoppers: Array<{ name: string; run: (timeoutMs: number) => Promise<void> | void }> = [];
  // Forwarding, masquerade, proxy ARP when `network` asks (all off by default); undone last, after the sessions ended.
  const network = await NetworkSetup.start(networkSetupOptions(config), log);
  stoppers.push({ name: 'network setup (nftables table, proxy ARP entries)', run: () => network.stop() });
  // --- RADIUS wiring (authenticator) ---
  const { RadiusServices } = await import('../aaa/RadiusServices.js');
  const radius = RadiusServices.create(config, { local: authenticator, addresses: addressPolicy, log });
  if (radius) {
    authenticator = radius.authenticator ?? authenticator;
    stoppers.push({ name: 'RADIUS (accounting Stops, Accounting-Off)', run: (ms) => radius.stop(ms) });
  }
  // --- end RADIUS wiring (authenticator) ---
  // Login throttling wraps whichever backend is in force, so every method and backend is throttled alike.
  const bans = new AddressBans(banPolicy(config), (ban) =>
    log.warn({ peer: ban.address, until: new Date(ban.until).toISOString(), reason: ban.reason }, 'address banned: its connections and calls are refused'),
  );
  const logins = new LoginGuard(loginThrottlePolicy(config), bans, log.child({ layer: 'throttle' }));
  authenticator = new ThrottledAuthenticator(authenticator, logins);
  const addresses = new TunnelAddresses({
    poolStart: parseIpv4(config.pool.start),
    poolEnd: parseIpv4(config.pool.end),
    tunAddress,
    tunPrefix,
    policy: addressPolicy,
    routes: tun,
    ...(config.network.proxyArp ? { neighbours: network } : {}),
  });
  const server = new SessionManager({
    dataPlane,
    addresses,
    authenticator,
    link: pppPolicy(config, authenticator, log),
    limits: callLimits(config),
    bans,
    nasAddress: config.listen,
    log,
  });
  const connections = connectionLimits(config);
  log.info({ descriptors: descriptorLimit(), reserve: DESCRIPTOR_RESERVE, maxConnections: connections.maxConnections }, 'control connection limits');
  const listener = new ControlListener(
    { listen: config.listen, port: config.port, echoIntervalMs: config.pptp.echoInterval * 1000, hostName: config.serverName, limits: connections, bans, log },
    server,
  );
  // --- RADIUS wiring (accounting, DAS) ---
  await radius?.attach(server);
  // --- end RADIUS wiring (accounting, DAS) ---
  // SIGHUP and the console's Reload: the file again, applied to the next logins (server/ConfigReload.ts).
  const reloader = new ConfigReloader({
    config,
    source,
    read: () => (source === EMBEDDED_DEFAULTS ? validateConfig({}, source) : loadConfig(source).config),
    targets: { sessions: server, listener, logins, bans, addressPolicy, addresses, radius, authenticator },
    log,
  });
  // --- admin wiring ---
  if (config.admin.enabled) {
    // The panel reads the core only through this adapter; nothing in the core imports the panel.
    const { createPptpAdminCore } = await import('../admin/PptpCoreAdapter.js');
    const { startAdmin } = await import('../admin/AdminConsole.js');
    const adminLog = log.child({ layer: 'admin' });
    const adminCore = createPptpAdminCore({
      server,
      dataPlane,
      users,
      config: () => reloader.current,
      reload: (by) => reloader.reload(by),
      addressPolicy,
      dataDirectory,
      hostWarnings,
      logins,
      log: adminLog,
      ...(radius ? { radiusServers: () => radius.serverStates() } : {}),
    });
    try {
      const stopAdmin = await startAdmin(adminCore, config, adminLog);
      stoppers.push({ name: 'admin console', run: () => stopAdmin() });
    } catch (err) {
      // The VPN keeps serving without its console (its port and certificate were checked at start; this is the rare rest).
      log.error({ err, listen: config.admin.listen }, 'admin console not started');
    }
  }
  // --- end admin wiring ---
  await listener.listen();
  log.info({ tun: config.tun.name, address: `${config.tun.address}/${tunPrefix}`, pool: config.pool, dataPlaneThreads: data.threads }, 'Portico ready');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const { shutdownTimeout } = reloader.current;
    log.info({ signal, shutdownTimeout, sessions: server.sessionCount }, 'shutting down');
    // Every client: LCP Terminate-Request, then (on its Terminate-Ack, or when the control connections
    // stop) Call-Disconnect-Notify and Stop-Control-Connection-Request; accounting Stops (Admin-Reboot)
    // and Accounting-Off; each step bounded (server/Shutdown.ts) so that the whole fits in shutdownTimeout.
    const { ms, late } = await runShutdown(
      [
        { name: 'sessions (LCP Terminate)', by: 0.4, run: (t) => server.stop(t) },
        { name: 'control connections (Call-Disconnect-Notify, Stop-Control-Connection)', by: 0.6, run: (t) => listener.stop(t) },
        ...stoppers.reverse().map((step) => ({ ...step, by: 0.9 })),
        { name: 'data plane', by: 1, run: () => data.close() },
      ],
      shutdownTimeout * 1000,
      log,
    );
    users.close();
    for (const claim of claims) await claim.release();
    log.info({ signal, ms, ...(late.length > 0 ? { late } : {}) }, 'stopped');
    log.flush();
    setTimeout(() => process.exit(0), 100).unref();
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.off('SIGHUP', earlyReload);
  process.on('SIGHUP', () => {
    if (!stopping) reloader.reload('SIGHUP');
  });
  // SIGUSR2 dumps live sessions, data-plane counters and the event loop's delay since the last
  // dump (ms; what every session's control traffic waited at worst) to the log (operators, benches).
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  process.on('SIGUSR2', () => {
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    // The histogram counts the 10 ms sampling interval itself; `resolution` lets readers subtract it.
    const eventLoop = { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max), samples: loopDelay.count, resolution: 10 };
    log.info({ eventLoop }, 'event loop delay');
    // The session list only for a modest number: with thousands, one synchronous dump stalls every session.
    const count = server.sessionCount;
    // `held`: Call IDs, addresses and routes as the allocators count them (0 with no session, else a leak).
    log.info(
      { sessionCount: count, held: server.held, memory: memoryFigures(), stuck: server.stuckSessions(), ...(count <= 1000 ? { sessions: server.listSessions() } : {}), counters: dataPlane.counters },
      'status',
    );
    loopDelay.reset(); // after the dump: a big status line must not count in the next interval
  });
}

/**
 * The process's memory in KiB for the status dump. Under `node --expose-gc` (the soak) garbage is
 * collected first, so that heap figures of two dumps compare live objects, not collection timing.
 */
function memoryFigures(): { rssKiB: number; heapUsedKiB: number; heapTotalKiB: number; externalKiB: number; arrayBuffersKiB: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  const kib = (bytes: number) => Math.round(bytes / 1024);
  return { rssKiB: kib(m.rss), heapUsedKiB: kib(m.heapUsed), heapTotalKiB: kib(m.heapTotal), externalKiB: kib(m.external), arrayBuffersKiB: kib(m.arrayBuffers) };
}
