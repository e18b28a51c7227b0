/*
 * portico_io.h: what the addon's files share with the module init in
 * portico_io.c: the N-API functions each file implements and Init exports,
 * grouped by the file that defines them.
 */
#ifndef PORTICO_IO_H
#define PORTICO_IO_H

#include <node_api.h>

#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/*
 * The per-packet system calls (a TUN read or write per packet) go through
 * syscall(2): glibc's read/readv/write are cancellation points, and in a
 * multi-threaded process (Node always is) each call then also runs
 * __pthread_enable_asynccancel and __pthread_disable_asynccancel, measured at
 * ~1.7 % of the server's CPU at 64 B (perf; BENCHMARKS.md). Nothing in the
 * addon is ever cancelled. errno is set as by the glibc wrappers.
 */
static inline ssize_t packet_read(int fd, void *buf, size_t len) {
  return (ssize_t)syscall(SYS_read, fd, buf, len);
}
static inline ssize_t packet_readv(int fd, const struct iovec *iov, int count) {
  return (ssize_t)syscall(SYS_readv, fd, iov, count);
}
static inline ssize_t packet_write(int fd, const void *buf, size_t len) {
  return (ssize_t)syscall(SYS_write, fd, buf, len);
}

/* Hidden: shared between the addon's files, not exported from the .node
 * (only napi_register_module_v1 is). */
#pragma GCC visibility push(hidden)

/* tun.c */
/* One ioctl on a throwaway AF_INET datagram socket: 0 or the errno; *failed_step
 * becomes "socket" when the socket itself could not be made. */
int control_ioctl(unsigned long request, void *arg, const char **failed_step);
napi_value OpenTun(napi_env env, napi_callback_info info);
napi_value ConfigureInterface(napi_env env, napi_callback_info info);
napi_value AddRoute(napi_env env, napi_callback_info info);
napi_value DelRoute(napi_env env, napi_callback_info info);
napi_value TunName(napi_env env, napi_callback_info info);

/* neigh.c */
napi_value AddProxyArp(napi_env env, napi_callback_info info);
napi_value DelProxyArp(napi_env env, napi_callback_info info);

/* gre.c */
napi_value OpenRawGre(napi_env env, napi_callback_info info);
napi_value Close(napi_env env, napi_callback_info info);

/* steering.c */
napi_value AttachTunSteering(napi_env env, napi_callback_info info);
napi_value SteeringSet(napi_env env, napi_callback_info info);
napi_value SteeringDelete(napi_env env, napi_callback_info info);

/* poll.c */
napi_value StartPoll(napi_env env, napi_callback_info info);
napi_value StopPoll(napi_env env, napi_callback_info info);
napi_value PollStats(napi_env env, napi_callback_info info);

/* write.c */
napi_value SendGre(napi_env env, napi_callback_info info);
napi_value WriteTun(napi_env env, napi_callback_info info);

#pragma GCC visibility pop

#endif
