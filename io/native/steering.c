/*
 * steering.c: multi-queue TUN steering: an eBPF hash map (IPv4 destination ->
 * queue) and the program TUNSETSTEERINGEBPF runs on each outgoing packet
 * (attachTunSteering), and steeringSet/steeringDelete to edit the map.
 */
#define _GNU_SOURCE
#include <node_api.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "args.h"
#include "portico_io.h"
#include "throw.h"

#define MAX_STEERING_ENTRIES (1u << 20)
#define MAX_TUN_QUEUES 256u /* the kernel's MAX_TAP_QUEUES */
#define STEERING_LOG_SIZE 4096u

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
napi_value AttachTunSteering(napi_env env, napi_callback_info info) {
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
napi_value SteeringSet(napi_env env, napi_callback_info info) {
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
napi_value SteeringDelete(napi_env env, napi_callback_info info) {
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
