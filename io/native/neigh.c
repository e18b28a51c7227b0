/*
 * neigh.c: proxy ARP entries (addProxyArp/delProxyArp), one per session
 * address on the LAN interface, through the ARP ioctls: SIOCSARP/SIOCDARP
 * with ATF_PUBL and a /32 mask make and remove the same proxy neighbour entry
 * as `ip neigh replace|del proxy ADDR dev IF` (Linux arp_req_set_public:
 * pneigh_lookup; arp_req_delete_public: pneigh_delete). A system call, not an
 * `ip` process: spawning one costs the server's event loop ~2 ms (the fork of a
 * large process), at every login and logout.
 */
#define _GNU_SOURCE
#include <node_api.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "args.h"
#include "portico_io.h"
#include "throw.h"

static napi_value change_proxy_arp(napi_env env, napi_callback_info info, bool add) {
  const char *call = add ? "addProxyArp" : "delProxyArp";
  size_t argc = 2;
  napi_value argv[2];
  char name[IFNAMSIZ];
  uint32_t addr;
  NAPI_OK_OR_THROW(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, add ? "addProxyArp(name, addr)" : "delProxyArp(name, addr)");
    return NULL;
  }
  if (!arg_ifname(env, argv[0], name) || !arg_u32(env, argv[1], "addr", 0, UINT32_MAX, &addr)) {
    return NULL;
  }
  struct arpreq req;
  memset(&req, 0, sizeof req);
  struct sockaddr_in *pa = (struct sockaddr_in *)&req.arp_pa;
  pa->sin_family = AF_INET;
  pa->sin_addr.s_addr = htonl(addr);
  /* No ATF_NETMASK: the kernel takes 255.255.255.255, a proxy entry for this address alone. */
  req.arp_flags = ATF_PUBL;
  memcpy(req.arp_dev, name, sizeof req.arp_dev); /* both IFNAMSIZ, name NUL-terminated (arg_ifname) */

  /* Idempotent as `ip neigh replace` is: adding an entry that exists is fine (the kernel
   * finds it); deleting a missing one is ENOENT, said to the caller like any other error. */
  const char *step = add ? "ioctl SIOCSARP" : "ioctl SIOCDARP";
  int err = control_ioctl(add ? SIOCSARP : SIOCDARP, &req, &step);
  if (err != 0) throw_errno(env, err, call, name, step);
  return NULL;
}

napi_value AddProxyArp(napi_env env, napi_callback_info info) {
  return change_proxy_arp(env, info, true);
}

napi_value DelProxyArp(napi_env env, napi_callback_info info) {
  return change_proxy_arp(env, info, false);
}
