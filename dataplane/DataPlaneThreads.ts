// Opens the data path the configuration asks for: one DataPlane in the main thread, or
// dataPlane.threads shards (ShardedDataPlane), each with its own GRE socket and TUN queue.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { PorticoConfig } from '../config/PorticoConfig.js';
import { RawGreSocket } from '../io/RawGreSocket.js';
import { DataPlane, type DataPlanePort } from './DataPlane.js';
import type { FromShard, ToShard } from './DataPlaneShard.js';
import type { DataPlaneWorkerData } from './DataPlaneWorker.js';
import { newSessionCounterCells } from './SessionCounters.js';
import { type ShardThread, ShardThreads } from './ShardThreads.js';
import { NativeTun } from '../io/NativeTun.js';
import type { TunSteering } from '../io/TunSteering.js';

const MAX_THREADS = 8;

export interface OpenedDataPlane {
  dataPlane: DataPlanePort;
  /** Queue 0 of the TUN: routes and the interface itself. */
  tun: NativeTun;
  threads: number;
  close(): Promise<void>;
}

export function dataPlaneThreads(config: PorticoConfig): number {
  const t = config.dataPlane.threads;
  return t === 'auto' ? Math.min(availableParallelism(), MAX_THREADS) : t;
}

export function openDataPlane(config: PorticoConfig, listen: number, tunAddress: number, tunPrefix: number, log: Logger): OpenedDataPlane {
  const wanted = dataPlaneThreads(config);
  // A fault inside a batch handler is logged and the reader carries on: one bad packet must not end every session.
  const onError = (layer: string) => (err: Error) => log.error({ err, layer }, 'data path handler failed');
  const dataLog = log.child({ layer: 'data' });
  // Several threads need a multi-queue TUN and a steering map; without the map, one thread on queue 0.
  const tun = NativeTun.open(config.tun.name, tunAddress, tunPrefix, config.tun.mtu, { onError: onError('tun'), multiQueue: wanted > 1, queueLength: config.tun.queueLength });
  if (tun.ipv6KeptBecause !== null) log.info({ tun: tun.name, reason: tun.ipv6KeptBecause }, "IPv6 stays on on the TUN: the kernel's own IPv6 packets there are dropped and counted (tunIpv6Dropped)");
  let steering: TunSteering | null = null;
  if (wanted > 1) {
    try {
      steering = tun.attachSteering(65536);
    } catch (err) {
      // One line with the kernel's reason and no stack trace: a missing capability is the usual cause, not a bug.
      log.warn({ reason: (err as Error).message, threads: wanted }, 'TUN steering refused by the kernel (needs CAP_BPF or CAP_SYS_ADMIN; Docker: --cap-add BPF): data plane on one thread');
    }
  }
  if (steering !== null) return openSharded(config, wanted, listen, tun, steering, onError, dataLog);
  const dataPlane = new DataPlane(RawGreSocket.open(listen, { onError: onError('gre') }), tun, dataLog);
  return { dataPlane, tun, threads: 1, close: async () => dataPlane.close() };
}

function openSharded(config: PorticoConfig, count: number, listen: number, tun: NativeTun, steering: TunSteering, onError: (layer: string) => (err: Error) => void, log: Logger): OpenedDataPlane {
  const sessionCells = newSessionCounterCells();
  const local = new DataPlane(RawGreSocket.open(listen, { onError: onError('gre'), shard: { count, index: 0 } }), tun, log);
  const startThread = (shard: number, planeCells: Float64Array): ShardThread => {
    // Opened here so that a failure stops the start, not a thread later; the worker owns them from now on.
    // Wrappers only for their descriptors: they never poll here, and the worker closes them.
    const greFd = RawGreSocket.open(listen, { shard: { count, index: shard } }).fd;
    const tunFd = NativeTun.openQueue(config.tun.name).fd;
    const data: DataPlaneWorkerData = { shard, greFd, tunFd, logLevel: config.log.level, logFormat: config.log.format, sessionCells, planeCells };
    const worker = new Worker(new URL('./DataPlaneWorker.js', import.meta.url), { workerData: data, name: `portico-data-${shard}` });
    worker.on('error', (err) => log.error({ err, shard }, 'data-plane thread failed'));
    return {
      remote: {
        channel: {
          postMessage: (m: ToShard) => worker.postMessage(m),
          on: (event: 'message', listener: (m: FromShard) => void) => worker.on(event, listener),
        },
        planeCells,
      },
      onExit: (listener) => worker.on('exit', listener),
      terminate: () => worker.terminate(),
      // A failed thread's env cleanup stopped its readers; its descriptors are still open. Closed after the
      // replacement opened its queue: the kernel then moves the newest TUN queue (the replacement's) into
      // the index the closed one leaves, which is the index the steering map gives this shard.
      release: () => {
        for (const close of [() => RawGreSocket.fromFd(greFd).close(), () => NativeTun.fromFd(tunFd).close()]) {
          try {
            close();
          } catch (err) {
            log.warn({ err, shard }, 'descriptor of the failed data-plane thread could not be closed');
          }
        }
      },
    };
  };
  const threads = new ShardThreads(local, count, steering, sessionCells, startThread, log);
  log.info({ threads: count }, 'data plane on several threads (sessions spread by Call ID)');
  return {
    dataPlane: threads.dataPlane,
    tun,
    threads: count,
    close: async () => {
      await threads.close();
      steering.close();
    },
  };
}
