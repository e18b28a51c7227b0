/*
 * tun.c: the TUN interface: openTun (optionally multi-queue), tunName,
 * configureInterface (address, netmask, MTU, queue length, up) and
 * addRoute/delRoute, all through /dev/net/tun and SIOC* ioctls.
 */
#define _GNU_SOURCE
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "args.h"
#include "portico_io.h"
#include "throw.h"

static uint32_t prefix_mask(uint32_t prefix_len) {
  return prefix_len == 0 ? 0 : 0xffffffffu << (32 - prefix_len);
}

static void fill_sockaddr(struct sockaddr *sa, uint32_t host_order_addr) {
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(host_order_addr);
  memcpy(sa, &sin, sizeof sin);
}

/* openTun(name[, multiQueue]): { fd, name }. With multiQueue the device is
 * IFF_MULTI_QUEUE and each further openTun of the same name attaches one more
 * queue; the kernel numbers queues in attach order (first fd = queue 0). */
napi_value OpenTun(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char name[IFNAMSIZ];
  bool multi_queue = false;
  NAPI_OK_OR_THROW(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !arg_ifname(env, argv[0], name) ||
      !arg_optional_bool(env, argc, argv, 1, "multiQueue", &multi_queue)) {
    return NULL;
  }

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    throw_errno(env, errno, "openTun", name, "open /dev/net/tun");
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  /* IFF_NO_PI: bare IP packets, no 4-octet packet-information prefix. */
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (multi_queue ? IFF_MULTI_QUEUE : 0);
  memcpy(ifr.ifr_name, name, strlen(name));
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "openTun", name, "ioctl TUNSETIFF");
    return NULL;
  }
  napi_value result, fd_v, name_v;
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  if (napi_create_object(env, &result) != napi_ok || napi_create_int32(env, fd, &fd_v) != napi_ok ||
      napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &name_v) != napi_ok ||
      napi_set_named_property(env, result, "fd", fd_v) != napi_ok ||
      napi_set_named_property(env, result, "name", name_v) != napi_ok) {
    close(fd);
    napi_throw_error(env, NULL, "openTun: could not build the result object");
    return NULL;
  }
  return result;
}

static int control_socket(void) { return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); }

int control_ioctl(unsigned long request, void *arg, const char **failed_step) {
  int s = control_socket();
  if (s < 0) {
    *failed_step = "socket";
    return errno;
  }
  int rc = ioctl(s, request, arg);
  int err = rc < 0 ? errno : 0;
  close(s);
  return err;
}

/* configureInterface(name, addr, prefixLen, mtu[, txQueueLen]) */
napi_value ConfigureInterface(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  char name[IFNAMSIZ];
  uint32_t addr, prefix_len, mtu, qlen = 0;
  NAPI_OK_OR_THROW(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "configureInterface(name, addr, prefixLen, mtu)");
    return NULL;
  }
  if (!arg_ifname(env, argv[0], name) || !arg_u32(env, argv[1], "addr", 0, UINT32_MAX, &addr) ||
      !arg_u32(env, argv[2], "prefixLen", 0, 32, &prefix_len) ||
      !arg_u32(env, argv[3], "mtu", 68, 65535, &mtu)) {
    return NULL;
  }
  napi_valuetype qt = napi_undefined;
  if (argc >= 5) napi_typeof(env, argv[4], &qt);
  if (qt != napi_undefined && !arg_u32(env, argv[4], "txQueueLen", 1, 1u << 20, &qlen)) return NULL;
  int s = control_socket();
  if (s < 0) {
    throw_errno(env, errno, "configureInterface", name, "socket");
    return NULL;
  }
  struct ifreq ifr;
  const char *step = NULL;

  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, strlen(name));
  fill_sockaddr(&ifr.ifr_addr, addr);
  if (ioctl(s, SIOCSIFADDR, &ifr) < 0) { step = "ioctl SIOCSIFADDR"; goto fail; }

  fill_sockaddr(&ifr.ifr_netmask, prefix_mask(prefix_len));
  if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0) { step = "ioctl SIOCSIFNETMASK"; goto fail; }

  memset(&ifr.ifr_ifru, 0, sizeof ifr.ifr_ifru);
  ifr.ifr_mtu = (int)mtu;
  if (ioctl(s, SIOCSIFMTU, &ifr) < 0) { step = "ioctl SIOCSIFMTU"; goto fail; }

  if (qlen != 0) {
    memset(&ifr.ifr_ifru, 0, sizeof ifr.ifr_ifru);
    ifr.ifr_qlen = (int)qlen;
    if (ioctl(s, SIOCSIFTXQLEN, &ifr) < 0) { step = "ioctl SIOCSIFTXQLEN"; goto fail; }
  }

  memset(&ifr.ifr_ifru, 0, sizeof ifr.ifr_ifru);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) { step = "ioctl SIOCGIFFLAGS"; goto fail; }
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) { step = "ioctl SIOCSIFFLAGS"; goto fail; }

  close(s);
  return NULL;
fail: {
    int err = errno;
    close(s);
    throw_errno(env, err, "configureInterface", name, step);
    return NULL;
  }
}

static napi_value change_route(napi_env env, napi_callback_info info, bool add) {
  const char *call = add ? "addRoute" : "delRoute";
  size_t argc = 3;
  napi_value argv[3];
  char name[IFNAMSIZ];
  uint32_t addr, prefix_len;
  NAPI_OK_OR_THROW(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, NULL, add ? "addRoute(name, addr, prefixLen)"
                                         : "delRoute(name, addr, prefixLen)");
    return NULL;
  }
  if (!arg_ifname(env, argv[0], name) || !arg_u32(env, argv[1], "addr", 0, UINT32_MAX, &addr) ||
      !arg_u32(env, argv[2], "prefixLen", 0, 32, &prefix_len)) {
    return NULL;
  }
  uint32_t mask = prefix_mask(prefix_len);
  struct rtentry rt;
  memset(&rt, 0, sizeof rt);
  /* The kernel rejects a destination with host bits set (EINVAL). */
  fill_sockaddr(&rt.rt_dst, addr & mask);
  fill_sockaddr(&rt.rt_genmask, mask);
  rt.rt_flags = RTF_UP | (prefix_len == 32 ? RTF_HOST : 0);
  rt.rt_dev = name;

  const char *step = add ? "ioctl SIOCADDRT" : "ioctl SIOCDELRT";
  int err = control_ioctl(add ? SIOCADDRT : SIOCDELRT, &rt, &step);
  /* Idempotent: adding an existing route or deleting a missing one is fine. */
  if (err != 0 && !(add && err == EEXIST) && !(!add && err == ESRCH)) throw_errno(env, err, call, name, step);
  return NULL;
}

napi_value AddRoute(napi_env env, napi_callback_info info) {
  return change_route(env, info, true);
}

napi_value DelRoute(napi_env env, napi_callback_info info) {
  return change_route(env, info, false);
}

/* tunName(fd): the interface a TUN descriptor is attached to (TUNGETIFF). */
napi_value TunName(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int fd;
  NAPI_OK_OR_THROW(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !arg_fd(env, argv[0], &fd)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
    char subject[16];
    snprintf(subject, sizeof subject, "%d", fd);
    throw_errno(env, errno, "tunName", subject, "ioctl TUNGETIFF");
    return NULL;
  }
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  napi_value name_v;
  NAPI_OK_OR_THROW(env, napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &name_v));
  return name_v;
}
