/*
 * portico_io: Portico's native packet I/O (Linux only). This file holds only
 * the module init and its export table; the calls live one concern per file
 * (tun.c, neigh.c, gre.c, steering.c, poll.c, write.c; shared: throw.c, args.c).
 */

/*
 * Two packet sources feed the data plane: the shared TUN interface and a raw
 * IPv4 socket for IP protocol 47 (GRE, RFC 2637 section 4.1). Both are read
 * non-blocking from a uv_poll watcher and drained in batches: one wake-up
 * fills up to `slots` packets into a JS-owned slab and calls onBatch(count)
 * once, so the native/JS boundary is crossed per batch, not per packet
 * (wireguard-go's Read(bufs, sizes) model). Buffer ownership and error
 * routing are described in poll.c.
 */
#include <node_api.h>

#include "portico_io.h"

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"openTun", NULL, OpenTun, NULL, NULL, NULL, napi_enumerable, NULL},
      {"configureInterface", NULL, ConfigureInterface, NULL, NULL, NULL, napi_enumerable, NULL},
      {"addRoute", NULL, AddRoute, NULL, NULL, NULL, napi_enumerable, NULL},
      {"delRoute", NULL, DelRoute, NULL, NULL, NULL, napi_enumerable, NULL},
      {"addProxyArp", NULL, AddProxyArp, NULL, NULL, NULL, napi_enumerable, NULL},
      {"delProxyArp", NULL, DelProxyArp, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openRawGre", NULL, OpenRawGre, NULL, NULL, NULL, napi_enumerable, NULL},
      {"startPoll", NULL, StartPoll, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stopPoll", NULL, StopPoll, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollStats", NULL, PollStats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendGre", NULL, SendGre, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeTun", NULL, WriteTun, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunName", NULL, TunName, NULL, NULL, NULL, napi_enumerable, NULL},
      {"attachTunSteering", NULL, AttachTunSteering, NULL, NULL, NULL, napi_enumerable, NULL},
      {"steeringSet", NULL, SteeringSet, NULL, NULL, NULL, napi_enumerable, NULL},
      {"steeringDelete", NULL, SteeringDelete, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) {
    return NULL;
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
