/*
 * write.c: writing batches: sendGre (sendmmsg on the raw GRE socket, in chunks
 * of SEND_CHUNK) and writeTun (one write per packet), both checking the whole
 * batch against the buffer before anything is sent.
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
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "args.h"
#include "portico_io.h"
#include "throw.h"

#define SEND_CHUNK 64u

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
napi_value SendGre(napi_env env, napi_callback_info info) {
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
napi_value WriteTun(napi_env env, napi_callback_info info) {
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
      r = packet_write(fd, buf + offsets[i], lengths[i]);
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
