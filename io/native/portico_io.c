/*
 * portico_io: Portico's native packet I/O (Linux only).
 *
 * Two packet sources feed the data plane: the shared TUN interface and a raw
 * IPv4 socket for IP protocol 47 (GRE, RFC 2637 section 4.1). Both are read
 * non-blocking from a uv_poll watcher and drained in batches: one wake-up
 * fills up to `slots` packets into a JS-owned slab and calls onBatch(count)
 * once, so the native/JS boundary is crossed per batch, not per packet
 * (wireguard-go's Read(bufs, sizes) model).
 *
 * Memory: JavaScript owns every buffer. startPoll keeps strong references to
 * the slab and the three Uint32Arrays until the poll is stopped and re-reads
 * their data pointers on every wake-up, so a detached or shrunk buffer stops
 * the poll with an error instead of being written through a stale pointer.
 *
 * Errors from callbacks: an exception thrown by onBatch is caught and cleared;
 * it goes to onError when one was given, otherwise (or if onError throws too)
 * to napi_fatal_exception, i.e. process 'uncaughtException'. It is never
 * swallowed. Read errors: EAGAIN ends the drain; errors caused by the network
 * (for example a pending ICMP error on the raw socket, RFC 1122 section
 * 4.2.3.9) are counted and polling continues; errors that mean the descriptor
 * is unusable stop the poll and are reported like exceptions.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#define MAX_SLOTS 1024u          /* recvmmsg vlen ceiling (UIO_MAXIOV) */
#define MAX_ROUNDS_PER_WAKEUP 8  /* fairness: other handles get the loop back */
#define SEND_CHUNK 64u
#define SOCKET_BUFFER_OCTETS (4 * 1024 * 1024)
#define IPV4_MIN_HEADER 20u

/* ------------------------------------------------------------------ errors */

static const char *errno_name(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case E2BIG: return "E2BIG";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case ENOSPC: return "ENOSPC";
    case ERANGE: return "ERANGE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case EBADFD: return "EBADFD";
    case ENOTSOCK: return "ENOTSOCK";
    case EDESTADDRREQ: return "EDESTADDRREQ";
    case EMSGSIZE: return "EMSGSIZE";
    case EPROTOTYPE: return "EPROTOTYPE";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ENETDOWN: return "ENETDOWN";
    case ENETUNREACH: return "ENETUNREACH";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ENOBUFS: return "ENOBUFS";
    case EHOSTDOWN: return "EHOSTDOWN";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    default: return NULL;
  }
}

/* Throws Error("<call>(<subject>): <ENAME> (<step>: <strerror>)") carrying
 * code, errno (negative, as node does) and syscall. */
static void throw_errno(napi_env env, int err, const char *call, const char *subject,
                        const char *step) {
  char code[24];
  const char *name = errno_name(err);
  if (name != NULL) {
    snprintf(code, sizeof code, "%s", name);
  } else {
    snprintf(code, sizeof code, "E%d", err);
  }
  char msg[384];
  if (subject != NULL) {
    snprintf(msg, sizeof msg, "%s(%s): %s (%s: %s)", call, subject, code, step, strerror(err));
  } else {
    snprintf(msg, sizeof msg, "%s: %s (%s: %s)", call, code, step, strerror(err));
  }
  napi_value code_v, msg_v, error, errno_v, syscall_v;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msg_v) != napi_ok ||
      napi_create_error(env, code_v, msg_v, &error) != napi_ok) {
    napi_throw_error(env, code, msg);
    return;
  }
  if (napi_create_int32(env, -err, &errno_v) == napi_ok) {
    napi_set_named_property(env, error, "errno", errno_v);
  }
  if (napi_create_string_utf8(env, step, NAPI_AUTO_LENGTH, &syscall_v) == napi_ok) {
    napi_set_named_property(env, error, "syscall", syscall_v);
  }
  napi_throw(env, error);
}

/* Builds (does not throw) the same error shape, for reporting from the loop. */
static napi_value make_errno_error(napi_env env, int err, const char *call, const char *step) {
  napi_value error = NULL;
  throw_errno(env, err, call, NULL, step);
  napi_get_and_clear_last_exception(env, &error);
  return error;
}

#define NAPI_OK_OR_THROW(env, expr)                                   \
  do {                                                                \
    if ((expr) != napi_ok) {                                          \
      bool pending_ = false;                                          \
      napi_is_exception_pending((env), &pending_);                    \
      if (!pending_) napi_throw_error((env), NULL, "N-API call failed: " #expr); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

/* --------------------------------------------------------- argument checks */

static bool arg_integer(napi_env env, napi_value v, const char *what, double min, double max,
                        double *out) {
  napi_valuetype t;
  double d;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number ||
      napi_get_value_double(env, v, &d) != napi_ok || d != d || d < min || d > max ||
      d != (double)(int64_t)d) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be an integer in [%.0f, %.0f]", what, min, max);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return false;
  }
  *out = d;
  return true;
}

static bool arg_u32(napi_env env, napi_value v, const char *what, uint32_t min, uint32_t max,
                    uint32_t *out) {
  double d;
  if (!arg_integer(env, v, what, (double)min, (double)max, &d)) return false;
  *out = (uint32_t)d;
  return true;
}

static bool arg_fd(napi_env env, napi_value v, int *out) {
  double d;
  if (!arg_integer(env, v, "fd", 0, 2147483647.0, &d)) return false;
  *out = (int)d;
  return true;
}

/* Interface names: 1..IFNAMSIZ-1 octets; the kernel validates the rest. */
static bool arg_ifname(napi_env env, napi_value v, char out[IFNAMSIZ]) {
  napi_valuetype t;
  size_t len = 0;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string ||
      napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len == 0 ||
      len >= IFNAMSIZ) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                          "interface name must be a string of 1 to 15 octets");
    return false;
  }
  napi_get_value_string_utf8(env, v, out, IFNAMSIZ, &len);
  if (strlen(out) != len) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "interface name contains NUL");
    return false;
  }
  return true;
}

static bool arg_bytes(napi_env env, napi_value v, const char *what, uint8_t **data, size_t *len) {
  bool is_typed = false;
  napi_typedarray_type type;
  void *p = NULL;
  if (napi_is_typedarray(env, v, &is_typed) == napi_ok && is_typed &&
      napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL) == napi_ok &&
      type == napi_uint8_array) {
    *data = p;
    return true;
  }
  char msg[96];
  snprintf(msg, sizeof msg, "%s must be a Buffer or Uint8Array", what);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return false;
}

static bool arg_u32_array(napi_env env, napi_value v, const char *what, uint32_t **data,
                          size_t *len) {
  bool is_typed = false;
  napi_typedarray_type type;
  void *p = NULL;
  if (napi_is_typedarray(env, v, &is_typed) == napi_ok && is_typed &&
      napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL) == napi_ok &&
      type == napi_uint32_array) {
    *data = p;
    return true;
  }
  char msg[96];
  snprintf(msg, sizeof msg, "%s must be a Uint32Array", what);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return false;
}

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

/* ---------------------------------------------------------------- set-up */

/* Optional boolean argument: undefined/null/absent = false. */
static bool arg_optional_bool(napi_env env, size_t argc, napi_value *argv, size_t i,
                              const char *what, bool *out) {
  *out = false;
  if (argc <= i) return true;
  napi_valuetype t;
  if (napi_typeof(env, argv[i], &t) != napi_ok) return false;
  if (t == napi_undefined || t == napi_null) return true;
  if (t == napi_boolean && napi_get_value_bool(env, argv[i], out) == napi_ok) return true;
  char msg[64];
  snprintf(msg, sizeof msg, "%s must be a boolean", what);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return false;
}

/* openTun(name[, multiQueue]): { fd, name }. With multiQueue the device is
 * IFF_MULTI_QUEUE and each further openTun of the same name attaches one more
 * queue; the kernel numbers queues in attach order (first fd = queue 0). */
static napi_value OpenTun(napi_env env, napi_callback_info info) {
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

/* configureInterface(name, addr, prefixLen, mtu) */
/* configureInterface(name, addr, prefixLen, mtu[, txQueueLen]) */
static napi_value ConfigureInterface(napi_env env, napi_callback_info info) {
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

  int s = control_socket();
  if (s < 0) {
    throw_errno(env, errno, call, name, "socket");
    return NULL;
  }
  int rc = ioctl(s, add ? SIOCADDRT : SIOCDELRT, &rt);
  int err = errno;
  close(s);
  /* Idempotent: adding an existing route or deleting a missing one is fine. */
  if (rc < 0 && !(add && err == EEXIST) && !(!add && err == ESRCH)) {
    throw_errno(env, err, call, name, add ? "ioctl SIOCADDRT" : "ioctl SIOCDELRT");
  }
  return NULL;
}

static napi_value AddRoute(napi_env env, napi_callback_info info) {
  return change_route(env, info, true);
}

static napi_value DelRoute(napi_env env, napi_callback_info info) {
  return change_route(env, info, false);
}

/* Large socket buffers absorb bursts between wake-ups. SO_*BUFFORCE ignores
 * net.core.[rw]mem_max but needs CAP_NET_ADMIN; fall back to the capped one. */
static int set_buffer(int fd, int force_opt, int opt) {
  int size = SOCKET_BUFFER_OCTETS;
  if (setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof size) == 0) return 0;
  return setsockopt(fd, SOL_SOCKET, opt, &size, sizeof size);
}

#define MAX_SHARDS 64u
#define CBPF_ACCEPT 0xffffffffu /* keep the whole packet */

/* Shard filter for a raw IPv4 GRE socket. A raw socket's filter sees the
 * packet from the IPv4 header on (raw_rcv pushes back to the network header),
 * so the GRE header starts at X = 4*IHL. PPTP enhanced GRE (RFC 2637 section
 * 4.1): octets 0-1 flags/version with K = 0x2000 and version 1, octets 6-7 the
 * call id. A packet too short to hold a call id, or not version 1 with K, goes
 * to shard 0 alone, so the data plane counts it as malformed exactly once
 * (the length is checked first: a failed load would drop it uncounted). */
static int attach_shard_filter(int fd, uint32_t count, uint32_t index) {
  const uint32_t other = index == 0 ? CBPF_ACCEPT : 0; /* not a call's packet */
  struct sock_filter code[] = {
      /*  0 */ BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),             /* X = IPv4 header length */
      /*  1 */ BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),              /* A = packet length */
      /*  2 */ BPF_STMT(BPF_ALU | BPF_SUB | BPF_X, 0),             /* A = GRE octets */
      /*  3 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 8, 0, 8),       /* else -> 12 */
      /*  4 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, 0),              /* A = GRE flags/version */
      /*  5 */ BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x2007),        /* K bit + version */
      /*  6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x2001, 0, 5),  /* else -> 12 */
      /*  7 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, 6),              /* A = call id */
      /*  8 */ BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, count),
      /*  9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, index, 0, 1),   /* -> 10 / 11 */
      /* 10 */ BPF_STMT(BPF_RET | BPF_K, CBPF_ACCEPT),
      /* 11 */ BPF_STMT(BPF_RET | BPF_K, 0),
      /* 12 */ BPF_STMT(BPF_RET | BPF_K, other),
  };
  struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
}

/* Packets queued between socket() and SO_ATTACH_FILTER bypassed the filter
 * (another shard may deliver them too): discard them. */
static void drain_socket(int fd) {
  uint8_t octet;
  while (recv(fd, &octet, sizeof octet, MSG_DONTWAIT | MSG_TRUNC) >= 0) {
  }
}

static bool get_u32_property(napi_env env, napi_value obj, const char *key, const char *what,
                             uint32_t min, uint32_t max, uint32_t *out) {
  napi_value v;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return false;
  return arg_u32(env, v, what, min, max, out);
}

/* Optional { count, index }: count 1..64, 0 <= index < count. */
static bool arg_shard(napi_env env, size_t argc, napi_value *argv, size_t i, bool *present,
                      uint32_t *count, uint32_t *index) {
  *present = false;
  if (argc <= i) return true;
  napi_valuetype t;
  if (napi_typeof(env, argv[i], &t) != napi_ok) return false;
  if (t == napi_undefined || t == napi_null) return true;
  if (t != napi_object) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "shard must be { count, index }");
    return false;
  }
  if (!get_u32_property(env, argv[i], "count", "shard.count", 1, MAX_SHARDS, count) ||
      !get_u32_property(env, argv[i], "index", "shard.index", 0, *count - 1, index)) {
    return false;
  }
  *present = true;
  return true;
}

/* openRawGre(bindAddr[, shard]): fd */
static napi_value OpenRawGre(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint32_t bind_addr = 0, shard_count = 0, shard_index = 0;
  bool sharded = false;
  NAPI_OK_OR_THROW(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc >= 1 && !arg_u32(env, argv[0], "bindAddr", 0, UINT32_MAX, &bind_addr)) return NULL;
  if (!arg_shard(env, argc, argv, 1, &sharded, &shard_count, &shard_index)) return NULL;

  char subject[INET_ADDRSTRLEN];
  struct in_addr ia = {.s_addr = htonl(bind_addr)};
  inet_ntop(AF_INET, &ia, subject, sizeof subject);

  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_GRE);
  if (fd < 0) {
    throw_errno(env, errno, "openRawGre", subject, "socket SOCK_RAW IPPROTO_GRE");
    return NULL;
  }
  const char *step = NULL;
  /* Don't set DF: PPTP peers (Poptop, Linux pptp) expect the kernel to
   * fragment tunnel packets larger than the path MTU. */
  int pmtu = IP_PMTUDISC_DONT;
  if (setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu) < 0) {
    step = "setsockopt IP_MTU_DISCOVER";
    goto fail;
  }
  if (set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF) < 0) { step = "setsockopt SO_RCVBUF"; goto fail; }
  if (set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF) < 0) { step = "setsockopt SO_SNDBUF"; goto fail; }
  if (bind_addr != 0) {
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(bind_addr);
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) { step = "bind"; goto fail; }
  }
  if (sharded) {
    if (attach_shard_filter(fd, shard_count, shard_index) < 0) {
      step = "setsockopt SO_ATTACH_FILTER";
      goto fail;
    }
    drain_socket(fd);
  }
  napi_value fd_v;
  if (napi_create_int32(env, fd, &fd_v) != napi_ok) {
    close(fd);
    napi_throw_error(env, NULL, "openRawGre: could not return the descriptor");
    return NULL;
  }
  return fd_v;
fail: {
    int err = errno;
    close(fd);
    throw_errno(env, err, "openRawGre", subject, step);
    return NULL;
  }
}

/* close(fd) */
static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int fd;
  NAPI_OK_OR_THROW(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !arg_fd(env, argv[0], &fd)) return NULL;
  /* On Linux the descriptor is released even when close() reports EINTR. */
  if (close(fd) < 0 && errno != EINTR) {
    char subject[16];
    snprintf(subject, sizeof subject, "%d", fd);
    throw_errno(env, errno, "close", subject, "close");
  }
  return NULL;
}

/* ------------------------------------------------- multi-queue TUN steering */

#define MAX_STEERING_ENTRIES (1u << 20)
#define MAX_TUN_QUEUES 256u /* the kernel's MAX_TAP_QUEUES */
#define STEERING_LOG_SIZE 4096u

/* tunName(fd): the interface a TUN descriptor is attached to (TUNGETIFF). */
static napi_value TunName(napi_env env, napi_callback_info info) {
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

static int sys_bpf(int cmd, union bpf_attr *attr) {
  return (int)syscall(__NR_bpf, cmd, attr, sizeof *attr);
}

#define INSN(c, d, s_, o, i) \
  ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s_), .off = (o), .imm = (i)})

/* Queue selector for TUNSETSTEERINGEBPF. The kernel runs it on the outgoing
 * skb with data at the IPv4 header (TUN has no link-layer header); LD_ABS
 * loads in host order. Returns map[dst] or 0 (absent, not IPv4, too short);
 * the kernel takes the result modulo the number of queues. */
static int load_steering_program(int map_fd, char *log, uint32_t log_size) {
  struct bpf_insn insns[] = {
      /*  0 */ INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0), /* r6 = skb (LD_ABS) */
      /*  1 */ INSN(BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, 0),                    /* r0 = pkt[0] */
      /*  2 */ INSN(BPF_ALU64 | BPF_RSH | BPF_K, BPF_REG_0, 0, 0, 4),
      /*  3 */ INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 10, 4),          /* not IPv4 -> 14 */
      /*  4 */ INSN(BPF_LD | BPF_ABS | BPF_W, 0, 0, 0, 16),                   /* r0 = destination */
      /*  5 */ INSN(BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_0, -4, 0), /* key on the stack */
      /*  6 */ INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0),
      /*  7 */ INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -4),
      /*  8 */ INSN(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map_fd),
      /*  9 */ INSN(0, 0, 0, 0, 0),
      /* 10 */ INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
      /* 11 */ INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 2, 0),           /* absent -> 14 */
      /* 12 */ INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_0, BPF_REG_0, 0, 0),   /* r0 = queue */
      /* 13 */ INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
      /* 14 */ INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0),
      /* 15 */ INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  a.insns = (uint64_t)(uintptr_t)insns;
  a.insn_cnt = sizeof insns / sizeof insns[0];
  a.license = (uint64_t)(uintptr_t)"GPL";
  if (log != NULL) {
    a.log_buf = (uint64_t)(uintptr_t)log;
    a.log_size = log_size;
    a.log_level = 1;
  }
  memcpy(a.prog_name, "portico_steer", sizeof "portico_steer");
  return sys_bpf(BPF_PROG_LOAD, &a);
}

/* The verifier's last non-empty line, for an error message. */
static const char *last_log_line(char *log) {
  size_t n = strnlen(log, STEERING_LOG_SIZE);
  while (n > 0 && (log[n - 1] == '\n' || log[n - 1] == ' ')) log[--n] = '\0';
  char *nl = strrchr(log, '\n');
  return nl != NULL ? nl + 1 : log;
}

/* attachTunSteering(tunFd, maxEntries): mapFd */
static napi_value AttachTunSteering(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int tun_fd;
  uint32_t max_entries;
  NAPI_OK_OR_THROW(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "attachTunSteering(tunFd, maxEntries)");
    return NULL;
  }
  if (!arg_fd(env, argv[0], &tun_fd) ||
      !arg_u32(env, argv[1], "maxEntries", 1, MAX_STEERING_ENTRIES, &max_entries)) {
    return NULL;
  }
  char subject[16];
  snprintf(subject, sizeof subject, "%d", tun_fd);

  /* bpf() descriptors are always close-on-exec. */
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_type = BPF_MAP_TYPE_HASH;
  a.key_size = sizeof(uint32_t);   /* IPv4 destination, host order */
  a.value_size = sizeof(uint32_t); /* queue index */
  a.max_entries = max_entries;
  memcpy(a.map_name, "portico_steer", sizeof "portico_steer");
  int map_fd = sys_bpf(BPF_MAP_CREATE, &a);
  if (map_fd < 0) {
    throw_errno(env, errno, "attachTunSteering", subject, "bpf BPF_MAP_CREATE");
    return NULL;
  }
  int prog_fd = load_steering_program(map_fd, NULL, 0);
  if (prog_fd < 0) {
    int err = errno;
    char step[192];
    snprintf(step, sizeof step, "bpf BPF_PROG_LOAD");
    if (err == EINVAL || err == EACCES) {
      /* Rejected by the verifier: load again with a log to say why. */
      char *log = calloc(1, STEERING_LOG_SIZE);
      if (log != NULL) {
        int again = load_steering_program(map_fd, log, STEERING_LOG_SIZE);
        if (again >= 0) close(again);
        snprintf(step, sizeof step, "bpf BPF_PROG_LOAD, verifier: %.140s", last_log_line(log));
        free(log);
      }
    }
    close(map_fd);
    throw_errno(env, err, "attachTunSteering", subject, step);
    return NULL;
  }
  /* The TUN takes its own reference on the program (and the program on the
   * map), so the program descriptor is not needed after this. */
  int rc = ioctl(tun_fd, TUNSETSTEERINGEBPF, &prog_fd);
  int err = errno;
  close(prog_fd);
  if (rc < 0) {
    close(map_fd);
    throw_errno(env, err, "attachTunSteering", subject, "ioctl TUNSETSTEERINGEBPF");
    return NULL;
  }
  napi_value fd_v;
  if (napi_create_int32(env, map_fd, &fd_v) != napi_ok) {
    close(map_fd);
    napi_throw_error(env, NULL, "attachTunSteering: could not return the map descriptor");
    return NULL;
  }
  return fd_v;
}

/* steeringSet(mapFd, addr, queue) */
static napi_value SteeringSet(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int map_fd;
  uint32_t addr, queue;
  NAPI_OK_OR_THROW(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "steeringSet(mapFd, addr, queue)");
    return NULL;
  }
  if (!arg_fd(env, argv[0], &map_fd) || !arg_u32(env, argv[1], "addr", 0, UINT32_MAX, &addr) ||
      !arg_u32(env, argv[2], "queue", 0, MAX_TUN_QUEUES - 1, &queue)) {
    return NULL;
  }
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_fd = (uint32_t)map_fd;
  a.key = (uint64_t)(uintptr_t)&addr;
  a.value = (uint64_t)(uintptr_t)&queue;
  a.flags = BPF_ANY;
  if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a) < 0) {
    char subject[INET_ADDRSTRLEN];
    struct in_addr ia = {.s_addr = htonl(addr)};
    inet_ntop(AF_INET, &ia, subject, sizeof subject);
    throw_errno(env, errno, "steeringSet", subject, "bpf BPF_MAP_UPDATE_ELEM");
  }
  return NULL;
}

/* steeringDelete(mapFd, addr): a missing key is not an error. */
static napi_value SteeringDelete(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int map_fd;
  uint32_t addr;
  NAPI_OK_OR_THROW(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "steeringDelete(mapFd, addr)");
    return NULL;
  }
  if (!arg_fd(env, argv[0], &map_fd) || !arg_u32(env, argv[1], "addr", 0, UINT32_MAX, &addr)) {
    return NULL;
  }
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_fd = (uint32_t)map_fd;
  a.key = (uint64_t)(uintptr_t)&addr;
  if (sys_bpf(BPF_MAP_DELETE_ELEM, &a) < 0 && errno != ENOENT) {
    char subject[INET_ADDRSTRLEN];
    struct in_addr ia = {.s_addr = htonl(addr)};
    inet_ntop(AF_INET, &ia, subject, sizeof subject);
    throw_errno(env, errno, "steeringDelete", subject, "bpf BPF_MAP_DELETE_ELEM");
  }
  return NULL;
}

/* ------------------------------------------------------------- polling */

typedef enum { KIND_GRE = 1, KIND_TUN = 2 } poll_kind;

typedef struct poll_handle {
  uv_poll_t poll;
  napi_env env;
  int fd;
  poll_kind kind;
  uint32_t slot_size;
  uint32_t headroom;
  uint32_t slots;

  /* Re-read from the references on every wake-up (see top comment). */
  uint8_t *slab;
  uint32_t *offsets, *lengths, *addrs;

  napi_ref self_ref, slab_ref, offsets_ref, lengths_ref, addrs_ref, on_batch_ref, on_error_ref;
  napi_async_context async_ctx;
  napi_async_cleanup_hook_handle cleanup_hook;

  struct mmsghdr *msgs; /* GRE only: recvmmsg vectors over the slab slots */
  struct iovec *iovs;
  uint8_t *iov_slab;    /* slab address the iovecs were built for */

  int owners;           /* the JS wrapper object + the libuv handle (once initialised) */
  bool active;          /* polling; closes exactly once */
  bool js_refs_held;
  bool in_callback;
  bool closing_for_env; /* closed by the env cleanup hook: complete it on close */

  double wakeups, batches, packets, dropped, soft_errors;
} poll_handle;

static void free_handle(poll_handle *h) {
  free(h->msgs);
  free(h->iovs);
  free(h);
}

static void release_owner(poll_handle *h) {
  if (--h->owners == 0) free_handle(h);
}

static void on_wrapper_finalized(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  release_owner((poll_handle *)data);
}

static void on_uv_closed(uv_handle_t *handle) {
  poll_handle *h = handle->data;
  if (h->closing_for_env) napi_remove_async_cleanup_hook(h->cleanup_hook);
  release_owner(h);
}

static void release_js(poll_handle *h) {
  if (!h->js_refs_held) return;
  h->js_refs_held = false;
  napi_env env = h->env;
  napi_ref *refs[] = {&h->slab_ref,     &h->offsets_ref,  &h->lengths_ref, &h->addrs_ref,
                      &h->on_batch_ref, &h->on_error_ref, &h->self_ref};
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
    if (*refs[i] != NULL) napi_delete_reference(env, *refs[i]);
    *refs[i] = NULL;
  }
  if (h->async_ctx != NULL) napi_async_destroy(env, h->async_ctx);
  h->async_ctx = NULL;
  h->slab = NULL;
  h->offsets = h->lengths = h->addrs = NULL;
}

/* Stops polling. uv_close stops the watcher synchronously (epoll entry gone),
 * so the caller may close the descriptor right after. */
static void stop_poll(poll_handle *h, bool from_env_cleanup) {
  if (!h->active) return;
  h->active = false;
  if (from_env_cleanup) {
    h->closing_for_env = true;
  } else {
    napi_remove_async_cleanup_hook(h->cleanup_hook);
  }
  uv_close((uv_handle_t *)&h->poll, on_uv_closed);
  /* JS references are released by the caller when safe (not mid-callback). */
}

static void on_env_cleanup(napi_async_cleanup_hook_handle hook, void *arg) {
  (void)hook;
  stop_poll((poll_handle *)arg, true);
}

/* Refreshes the data pointers; false if a buffer was detached or shrunk. */
static bool refresh_pointers(poll_handle *h) {
  napi_env env = h->env;
  napi_value v;
  napi_typedarray_type type;
  size_t len;
  void *p;
  size_t need_slab = (size_t)h->slots * h->slot_size;
  if (napi_get_reference_value(env, h->slab_ref, &v) != napi_ok || v == NULL ||
      napi_get_typedarray_info(env, v, &type, &len, &p, NULL, NULL) != napi_ok || p == NULL ||
      len < need_slab) {
    return false;
  }
  h->slab = p;
  napi_ref arrays[3] = {h->offsets_ref, h->lengths_ref, h->addrs_ref};
  uint32_t **outs[3] = {&h->offsets, &h->lengths, &h->addrs};
  for (int i = 0; i < 3; i++) {
    if (napi_get_reference_value(env, arrays[i], &v) != napi_ok || v == NULL ||
        napi_get_typedarray_info(env, v, &type, &len, &p, NULL, NULL) != napi_ok || p == NULL ||
        len < h->slots) {
      return false;
    }
    *outs[i] = p;
  }
  return true;
}

static bool is_fatal_io_error(int err) {
  return err == EBADF || err == EBADFD || err == ENOTSOCK || err == EFAULT || err == EINVAL ||
         err == ENODEV || err == ENXIO;
}

/* Fills slots from the raw GRE socket. The kernel hands raw IPv4 sockets the
 * whole datagram (after reassembly); strip the outer IPv4 header (RFC 791)
 * after checking version, IHL and total length against what arrived. */
static uint32_t fill_gre(poll_handle *h, bool *drained, int *err) {
  if (h->iov_slab != h->slab) {
    for (uint32_t i = 0; i < h->slots; i++) {
      h->iovs[i].iov_base = h->slab + (size_t)i * h->slot_size;
      h->iovs[i].iov_len = h->slot_size;
      h->msgs[i].msg_hdr.msg_iov = &h->iovs[i];
      h->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    h->iov_slab = h->slab;
  }
  int r;
  do {
    r = recvmmsg(h->fd, h->msgs, h->slots, MSG_DONTWAIT, NULL);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      *drained = true;
    } else {
      *err = errno;
    }
    return 0;
  }
  *drained = (uint32_t)r < h->slots;
  uint32_t n = 0;
  for (uint32_t i = 0; i < (uint32_t)r; i++) {
    uint32_t base = i * h->slot_size;
    const uint8_t *p = h->slab + base;
    uint32_t len = h->msgs[i].msg_len;
    if ((h->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || len < IPV4_MIN_HEADER || (p[0] >> 4) != 4) {
      h->dropped++;
      continue;
    }
    uint32_t ihl = (uint32_t)(p[0] & 0x0f) * 4;
    uint32_t total = ((uint32_t)p[2] << 8) | p[3];
    if (ihl < IPV4_MIN_HEADER || ihl > len || total < ihl || total > len) {
      h->dropped++;
      continue;
    }
    h->offsets[n] = base + ihl;
    h->lengths[n] = total - ihl;
    h->addrs[n] = ((uint32_t)p[12] << 24) | ((uint32_t)p[13] << 16) | ((uint32_t)p[14] << 8) | p[15];
    n++;
  }
  return n;
}

/* Fills slots from the TUN descriptor, one read per packet, each packet at
 * slot*slotSize + headroom so headers can later be prepended in place. tun
 * silently truncates a packet longer than the buffer, so a one-octet overflow
 * iovec detects that case and the packet is dropped. */
static uint32_t fill_tun(poll_handle *h, bool *drained, int *err) {
  uint32_t n = 0;
  uint32_t capacity = h->slot_size - h->headroom;
  uint8_t overflow;
  struct iovec iov[2] = {{NULL, capacity}, {&overflow, 1}};
  while (n < h->slots) {
    uint32_t off = n * h->slot_size + h->headroom;
    iov[0].iov_base = h->slab + off;
    ssize_t r = readv(h->fd, iov, 2);
    if (r < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) {
        *drained = true;
      } else {
        *err = e;
      }
      break;
    }
    if (r == 0) {
      *drained = true;
      break;
    }
    if ((size_t)r > capacity) {
      h->dropped++;
      continue;
    }
    h->offsets[n] = off;
    h->lengths[n] = (uint32_t)r;
    h->addrs[n] = 0;
    n++;
  }
  return n;
}

/* Routes an exception (or error) to onError, else to process
 * 'uncaughtException'. Must be called with no exception pending. */
static void report(poll_handle *h, napi_value error) {
  napi_env env = h->env;
  if (error == NULL) return;
  napi_value on_error = NULL, undefined, ignored;
  if (h->on_error_ref != NULL) napi_get_reference_value(env, h->on_error_ref, &on_error);
  if (on_error != NULL) {
    napi_get_undefined(env, &undefined);
    if (napi_call_function(env, undefined, on_error, 1, &error, &ignored) == napi_ok) return;
    napi_value second = NULL;
    napi_get_and_clear_last_exception(env, &second);
    if (second != NULL) error = second;
  }
  napi_fatal_exception(env, error);
}

static void deliver(poll_handle *h, uint32_t count) {
  napi_env env = h->env;
  napi_value cb, undefined, arg, ignored;
  h->batches++;
  h->packets += count;
  if (napi_get_reference_value(env, h->on_batch_ref, &cb) != napi_ok || cb == NULL) return;
  napi_get_undefined(env, &undefined);
  napi_create_uint32(env, count, &arg);
  if (napi_call_function(env, undefined, cb, 1, &arg, &ignored) != napi_ok) {
    napi_value exception = NULL;
    napi_get_and_clear_last_exception(env, &exception);
    report(h, exception);
  }
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  (void)events;
  poll_handle *h = poll->data;
  if (!h->active) return;
  napi_env env = h->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value resource;
  napi_callback_scope cb_scope = NULL;
  /* A callback scope runs async hooks and drains microtasks once per wake-up. */
  if (napi_get_reference_value(env, h->self_ref, &resource) == napi_ok && resource != NULL) {
    napi_open_callback_scope(env, resource, h->async_ctx, &cb_scope);
  }
  h->in_callback = true;
  h->wakeups++;

  const char *call = h->kind == KIND_GRE ? "poll(gre)" : "poll(tun)";
  if (status < 0) {
    napi_value error = NULL;
    char msg[96];
    snprintf(msg, sizeof msg, "%s: %s", call, uv_err_name(status));
    napi_value msg_v;
    if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msg_v) == napi_ok) {
      napi_create_error(env, NULL, msg_v, &error);
    }
    stop_poll(h, false);
    report(h, error);
  } else {
    for (int round = 0; round < MAX_ROUNDS_PER_WAKEUP && h->active; round++) {
      /* Per round: onBatch may have detached or replaced nothing, but check. */
      if (!refresh_pointers(h)) {
        napi_value error = NULL, msg_v;
        char msg[128];
        snprintf(msg, sizeof msg, "%s: slab or index arrays were detached or shrunk", call);
        if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msg_v) == napi_ok) {
          napi_create_error(env, NULL, msg_v, &error);
        }
        stop_poll(h, false);
        report(h, error);
        break;
      }
      bool drained = false;
      int err = 0;
      uint32_t n = h->kind == KIND_GRE ? fill_gre(h, &drained, &err) : fill_tun(h, &drained, &err);
      if (n > 0) {
        deliver(h, n);
        if (!h->active) break; /* onBatch called stopPoll */
      }
      if (err != 0) {
        if (is_fatal_io_error(err)) {
          stop_poll(h, false);
          report(h, make_errno_error(env, err, call, h->kind == KIND_GRE ? "recvmmsg" : "read"));
        } else {
          h->soft_errors++; /* e.g. a pending ICMP error; level-triggered poll retries */
        }
        break;
      }
      if (drained) break;
    }
  }

  h->in_callback = false;
  if (cb_scope != NULL) napi_close_callback_scope(env, cb_scope);
  if (!h->active) release_js(h);
  napi_close_handle_scope(env, scope);
}

static bool arg_kind(napi_env env, napi_value v, poll_kind *out) {
  char s[8];
  size_t len = 0;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) == napi_ok && t == napi_string &&
      napi_get_value_string_utf8(env, v, s, sizeof s, &len) == napi_ok) {
    if (strcmp(s, "gre") == 0) { *out = KIND_GRE; return true; }
    if (strcmp(s, "tun") == 0) { *out = KIND_TUN; return true; }
  }
  napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "kind must be 'gre' or 'tun'");
  return false;
}

static bool arg_function(napi_env env, napi_value v, const char *what) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) == napi_ok && t == napi_function) return true;
  char msg[64];
  snprintf(msg, sizeof msg, "%s must be a function", what);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return false;
}

/* startPoll(fd, kind, slab, slotSize, headroom, offsets, lengths, addrs, onBatch[, onError]): handle */
static napi_value StartPoll(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  NAPI_OK_OR_THROW(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 9) {
    napi_throw_type_error(env, NULL,
                          "startPoll(fd, kind, slab, slotSize, headroom, offsets, lengths, addrs, "
                          "onBatch[, onError])");
    return NULL;
  }
  int fd;
  poll_kind kind;
  uint8_t *slab;
  size_t slab_len, offsets_len, lengths_len, addrs_len;
  uint32_t slot_size, headroom, *offsets, *lengths, *addrs;
  if (!arg_fd(env, argv[0], &fd) || !arg_kind(env, argv[1], &kind) ||
      !arg_bytes(env, argv[2], "slab", &slab, &slab_len) ||
      !arg_u32(env, argv[3], "slotSize", 64, 65536, &slot_size) ||
      !arg_u32(env, argv[4], "headroom", 0, slot_size - 64, &headroom) ||
      !arg_u32_array(env, argv[5], "offsets", &offsets, &offsets_len) ||
      !arg_u32_array(env, argv[6], "lengths", &lengths, &lengths_len) ||
      !arg_u32_array(env, argv[7], "addrs", &addrs, &addrs_len) ||
      !arg_function(env, argv[8], "onBatch")) {
    return NULL;
  }
  bool has_on_error = false;
  if (argc >= 10) {
    napi_valuetype t;
    NAPI_OK_OR_THROW(env, napi_typeof(env, argv[9], &t));
    if (t != napi_undefined && t != napi_null) {
      if (!arg_function(env, argv[9], "onError")) return NULL;
      has_on_error = true;
    }
  }
  if (kind == KIND_GRE && headroom != 0) {
    /* GRE slots receive whole IPv4 datagrams at the slot start. */
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "headroom must be 0 for kind 'gre'");
    return NULL;
  }
  size_t slots = slab_len / slot_size;
  if (slots == 0 || slots > MAX_SLOTS || offsets_len < slots || lengths_len < slots ||
      addrs_len < slots) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "slab must hold 1..1024 slots and offsets/lengths/addrs one entry per slot");
    return NULL;
  }

  poll_handle *h = calloc(1, sizeof *h);
  if (h == NULL) {
    napi_throw_error(env, "ENOMEM", "startPoll: out of memory");
    return NULL;
  }
  h->env = env;
  h->fd = fd;
  h->kind = kind;
  h->slot_size = slot_size;
  h->headroom = headroom;
  h->slots = (uint32_t)slots;
  h->poll.data = h;
  if (kind == KIND_GRE) {
    h->msgs = calloc(slots, sizeof *h->msgs);
    h->iovs = calloc(slots, sizeof *h->iovs);
    if (h->msgs == NULL || h->iovs == NULL) {
      free_handle(h);
      napi_throw_error(env, "ENOMEM", "startPoll: out of memory");
      return NULL;
    }
  }

  napi_value self;
  if (napi_create_object(env, &self) != napi_ok ||
      napi_wrap(env, self, h, on_wrapper_finalized, NULL, NULL) != napi_ok) {
    free_handle(h);
    napi_throw_error(env, NULL, "startPoll: could not create the handle");
    return NULL;
  }
  h->owners = 1; /* from here on the wrapper's finalizer frees h */
  h->js_refs_held = true;
  napi_value resource_name;
  if (napi_create_reference(env, self, 1, &h->self_ref) != napi_ok ||
      napi_create_reference(env, argv[2], 1, &h->slab_ref) != napi_ok ||
      napi_create_reference(env, argv[5], 1, &h->offsets_ref) != napi_ok ||
      napi_create_reference(env, argv[6], 1, &h->lengths_ref) != napi_ok ||
      napi_create_reference(env, argv[7], 1, &h->addrs_ref) != napi_ok ||
      napi_create_reference(env, argv[8], 1, &h->on_batch_ref) != napi_ok ||
      (has_on_error && napi_create_reference(env, argv[9], 1, &h->on_error_ref) != napi_ok) ||
      napi_create_string_utf8(env, "PorticoIoPoll", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_async_init(env, self, resource_name, &h->async_ctx) != napi_ok) {
    release_js(h);
    napi_throw_error(env, NULL, "startPoll: could not reference its arguments");
    return NULL;
  }

  uv_loop_t *loop;
  int rc;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    release_js(h);
    napi_throw_error(env, NULL, "startPoll: no event loop");
    return NULL;
  }
  rc = uv_poll_init(loop, &h->poll, fd);
  if (rc < 0) {
    release_js(h);
    char msg[96];
    snprintf(msg, sizeof msg, "startPoll(%d): %s (uv_poll_init)", fd, uv_err_name(rc));
    napi_throw_error(env, uv_err_name(rc), msg);
    return NULL;
  }
  h->owners++; /* the libuv handle, released in on_uv_closed */
  rc = uv_poll_start(&h->poll, UV_READABLE, on_readable);
  if (rc < 0) {
    release_js(h);
    uv_close((uv_handle_t *)&h->poll, on_uv_closed);
    char msg[96];
    snprintf(msg, sizeof msg, "startPoll(%d): %s (uv_poll_start)", fd, uv_err_name(rc));
    napi_throw_error(env, uv_err_name(rc), msg);
    return NULL;
  }
  if (napi_add_async_cleanup_hook(env, on_env_cleanup, h, &h->cleanup_hook) != napi_ok) {
    release_js(h);
    uv_close((uv_handle_t *)&h->poll, on_uv_closed);
    napi_throw_error(env, NULL, "startPoll: could not register the cleanup hook");
    return NULL;
  }
  h->active = true;
  return self;
}

static poll_handle *arg_handle(napi_env env, napi_value v) {
  void *p = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_object || napi_unwrap(env, v, &p) != napi_ok ||
      p == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a handle returned by startPoll");
    return NULL;
  }
  return p;
}

/* stopPoll(handle): idempotent; safe inside onBatch. */
static napi_value StopPoll(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK_OR_THROW(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "stopPoll(handle)");
    return NULL;
  }
  poll_handle *h = arg_handle(env, argv[0]);
  if (h == NULL) return NULL;
  stop_poll(h, false);
  if (!h->in_callback) release_js(h);
  return NULL;
}

/* pollStats(handle): counters since startPoll. */
static napi_value PollStats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK_OR_THROW(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "pollStats(handle)");
    return NULL;
  }
  poll_handle *h = arg_handle(env, argv[0]);
  if (h == NULL) return NULL;
  napi_value out, v;
  NAPI_OK_OR_THROW(env, napi_create_object(env, &out));
  const char *names[] = {"wakeups", "batches", "packets", "dropped", "softErrors"};
  double values[] = {h->wakeups, h->batches, h->packets, h->dropped, h->soft_errors};
  for (int i = 0; i < 5; i++) {
    NAPI_OK_OR_THROW(env, napi_create_double(env, values[i], &v));
    NAPI_OK_OR_THROW(env, napi_set_named_property(env, out, names[i], v));
  }
  NAPI_OK_OR_THROW(env, napi_get_boolean(env, h->active, &v));
  NAPI_OK_OR_THROW(env, napi_set_named_property(env, out, "active", v));
  return out;
}

/* ------------------------------------------------------------- writing */

/* Validates count and every [offset, offset+length) against the buffer before
 * anything is sent, so a bad batch never goes out half-way. */
static bool check_batch(napi_env env, const char *call, size_t buf_len, const uint32_t *offsets,
                        size_t offsets_len, const uint32_t *lengths, size_t lengths_len,
                        size_t addrs_len, uint32_t count) {
  if (count > offsets_len || count > lengths_len || count > addrs_len) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s: count %u exceeds the index arrays", call, count);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return false;
  }
  for (uint32_t i = 0; i < count; i++) {
    if ((uint64_t)offsets[i] + lengths[i] > buf_len || lengths[i] == 0) {
      char msg[128];
      snprintf(msg, sizeof msg, "%s: packet %u [%u, +%u) is empty or outside the buffer", call, i,
               offsets[i], lengths[i]);
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
      return false;
    }
  }
  return true;
}

static bool is_fatal_send_error(int err) {
  return err == EBADF || err == EBADFD || err == ENOTSOCK || err == EFAULT || err == ENODEV;
}

/* sendGre(fd, buf, offsets, lengths, addrs, count): number of packets the
 * kernel accepted. EAGAIN/ENOBUFS stop the batch; a packet refused on its own
 * (unreachable peer, pending ICMP error, ...) is skipped. The remainder are
 * drops for the caller to count. */
static napi_value SendGre(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  NAPI_OK_OR_THROW(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) {
    napi_throw_type_error(env, NULL, "sendGre(fd, buf, offsets, lengths, addrs, count)");
    return NULL;
  }
  int fd;
  uint8_t *buf;
  size_t buf_len, offsets_len, lengths_len, addrs_len;
  uint32_t *offsets, *lengths, *addrs, count;
  if (!arg_fd(env, argv[0], &fd) || !arg_bytes(env, argv[1], "buf", &buf, &buf_len) ||
      !arg_u32_array(env, argv[2], "offsets", &offsets, &offsets_len) ||
      !arg_u32_array(env, argv[3], "lengths", &lengths, &lengths_len) ||
      !arg_u32_array(env, argv[4], "addrs", &addrs, &addrs_len) ||
      !arg_u32(env, argv[5], "count", 0, UINT32_MAX, &count) ||
      !check_batch(env, "sendGre", buf_len, offsets, offsets_len, lengths, lengths_len, addrs_len,
                   count)) {
    return NULL;
  }
  struct mmsghdr msgs[SEND_CHUNK];
  struct iovec iovs[SEND_CHUNK];
  struct sockaddr_in names[SEND_CHUNK];
  uint32_t sent = 0, i = 0;
  while (i < count) {
    uint32_t chunk = count - i < SEND_CHUNK ? count - i : SEND_CHUNK;
    memset(msgs, 0, chunk * sizeof msgs[0]);
    for (uint32_t j = 0; j < chunk; j++) {
      uint32_t k = i + j;
      memset(&names[j], 0, sizeof names[j]);
      names[j].sin_family = AF_INET;
      names[j].sin_addr.s_addr = htonl(addrs[k]);
      iovs[j].iov_base = buf + offsets[k];
      iovs[j].iov_len = lengths[k];
      msgs[j].msg_hdr.msg_name = &names[j];
      msgs[j].msg_hdr.msg_namelen = sizeof names[j];
      msgs[j].msg_hdr.msg_iov = &iovs[j];
      msgs[j].msg_hdr.msg_iovlen = 1;
    }
    int r = sendmmsg(fd, msgs, chunk, MSG_DONTWAIT);
    if (r < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == ENOMEM) break;
      if (is_fatal_send_error(err)) {
        throw_errno(env, err, "sendGre", NULL, "sendmmsg");
        return NULL;
      }
      i++; /* this packet alone was refused: drop it and go on */
      continue;
    }
    /* A short count means packet i+r failed; the next call retries it and
     * gets its error (sendmmsg loses the error once something was sent). */
    sent += (uint32_t)r;
    i += (uint32_t)r;
  }
  napi_value result;
  NAPI_OK_OR_THROW(env, napi_create_uint32(env, sent, &result));
  return result;
}

/* writeTun(fd, buf, offsets, lengths, count): number written. */
static napi_value WriteTun(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  NAPI_OK_OR_THROW(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "writeTun(fd, buf, offsets, lengths, count)");
    return NULL;
  }
  int fd;
  uint8_t *buf;
  size_t buf_len, offsets_len, lengths_len;
  uint32_t *offsets, *lengths, count;
  if (!arg_fd(env, argv[0], &fd) || !arg_bytes(env, argv[1], "buf", &buf, &buf_len) ||
      !arg_u32_array(env, argv[2], "offsets", &offsets, &offsets_len) ||
      !arg_u32_array(env, argv[3], "lengths", &lengths, &lengths_len) ||
      !arg_u32(env, argv[4], "count", 0, UINT32_MAX, &count) ||
      !check_batch(env, "writeTun", buf_len, offsets, offsets_len, lengths, lengths_len,
                   offsets_len, count)) {
    return NULL;
  }
  uint32_t written = 0;
  for (uint32_t i = 0; i < count; i++) {
    ssize_t r;
    do {
      r = write(fd, buf + offsets[i], lengths[i]);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == ENOMEM) break;
      if (is_fatal_send_error(err)) {
        throw_errno(env, err, "writeTun", NULL, "write");
        return NULL;
      }
      continue; /* e.g. EINVAL: not an IP packet; dropped */
    }
    written++;
  }
  napi_value result;
  NAPI_OK_OR_THROW(env, napi_create_uint32(env, written, &result));
  return result;
}

/* ---------------------------------------------------------------- module */

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"openTun", NULL, OpenTun, NULL, NULL, NULL, napi_enumerable, NULL},
      {"configureInterface", NULL, ConfigureInterface, NULL, NULL, NULL, napi_enumerable, NULL},
      {"addRoute", NULL, AddRoute, NULL, NULL, NULL, napi_enumerable, NULL},
      {"delRoute", NULL, DelRoute, NULL, NULL, NULL, napi_enumerable, NULL},
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
