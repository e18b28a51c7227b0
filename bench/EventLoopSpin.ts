// Experiment aid, never part of the product: loaded into the server with
// PORTICO_BENCH_NODE_FLAGS="--import <repo>/dist/bench/EventLoopSpin.js", it keeps the main thread's
// event loop from ever sleeping (a setImmediate chain makes libuv poll with a zero timeout), i.e. the
// busy-polling a data-plane thread could do at the price of a whole core. The latency bench with it
// shows how much of the light-load latency is the wake-up of an idle thread (BENCHMARKS.md,
// "latency — added by the tunnel").
const spin = (): void => {
  setImmediate(spin);
};
spin();
