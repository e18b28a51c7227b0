// Entry point of a data-plane worker thread (ShardedDataPlane). It receives descriptors the main
// thread opened (a raw GRE socket filtered to this shard's Call IDs, one queue of the shared TUN),
// and shared memory for counters; everything else arrives as messages.
import { parentPort, workerData } from 'node:worker_threads';
import { RawGreSocket } from '../io/RawGreSocket.js';
import { DataPlaneShard, type FromShard, type ShardMemory, type ToShard } from './DataPlaneShard.js';
import { createLogger, type LogFormat, logDestination } from '../server/Logger.js';
import { NativeTun } from '../io/NativeTun.js';

export interface DataPlaneWorkerData extends ShardMemory {
  shard: number;
  greFd: number;
  tunFd: number;
  logLevel: string;
  logFormat: LogFormat;
}

const data = workerData as DataPlaneWorkerData;
const port = parentPort;
if (port === null) throw new Error('DataPlaneWorker runs as a worker thread only');
const log = createLogger(data.logLevel, logDestination(data.logFormat)).child({ layer: 'data', shard: data.shard });
const onError = (layer: string) => (err: Error) => log.error({ err, layer }, 'data path handler failed');
const gre = RawGreSocket.fromFd(data.greFd, { onError: onError('gre') });
const tun = NativeTun.fromFd(data.tunFd, { onError: onError('tun') });
new DataPlaneShard(
  {
    postMessage: (m: FromShard) => port.postMessage(m),
    on: (event, listener: (m: ToShard) => void) => port.on(event, listener),
  },
  gre,
  tun,
  data,
  log,
);
port.on('message', (m: ToShard) => {
  // After the shard closed its descriptors, let the thread end.
  if (m.t === 'close') setImmediate(() => port.close());
});
