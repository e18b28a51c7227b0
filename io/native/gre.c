/*
 * gre.c: the raw IPv4 socket for IP protocol 47 (openRawGre): socket buffers,
 * DF off, optional bind, the classic BPF filter that shards packets by PPTP
 * call id; and close(fd) for every descriptor the addon hands out.
 */
#define _GNU_SOURCE
#include <node_api.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "args.h"
#include "portico_io.h"
#include "throw.h"

#define SOCKET_BUFFER_OCTETS (4 * 1024 * 1024)

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
napi_value OpenRawGre(napi_env env, napi_callback_info info) {
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
napi_value Close(napi_env env, napi_callback_info info) {
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
