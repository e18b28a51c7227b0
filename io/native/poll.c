/*
 * poll.c: reading: startPoll/stopPoll/pollStats, one uv_poll watcher per
 * descriptor that drains GRE (recvmmsg) or TUN (readv) packets in batches
 * into a JS-owned slab and calls onBatch(count) once per batch.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/uio.h>

#include "args.h"
#include "portico_io.h"
#include "throw.h"

#define MAX_SLOTS 1024u          /* recvmmsg vlen ceiling (UIO_MAXIOV) */
#define MAX_ROUNDS_PER_WAKEUP 8  /* fairness: other handles get the loop back */
#define IPV4_MIN_HEADER 20u

/*
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

typedef enum { KIND_GRE = 1, KIND_TUN = 2 } poll_kind;

typedef struct poll_handle {
  uv_poll_t poll;
  napi_env env;
  int fd;
  poll_kind kind;
  uint32_t slot_size;
  uint32_t headroom;
  uint32_t slots;

  /* Re-read from the references on every wake-up (see Memory above). */
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
 * silently truncates a packet longer than the buffer, so each read asks for
 * one octet more than a slot holds and a packet that fills it is dropped. That
 * octet lands in the next slot's headroom, which the next read overwrites or
 * the headers of its packet later will; the last slot has no next one and
 * takes the octet from a one-octet second iovec instead. A plain read costs
 * the kernel less than readv (no iovec to copy in and walk: ~1 % of the
 * server's CPU at 64 B in perf; BENCHMARKS.md). */
static uint32_t fill_tun(poll_handle *h, bool *drained, int *err) {
  uint32_t n = 0;
  uint32_t capacity = h->slot_size - h->headroom;
  uint8_t overflow;
  struct iovec iov[2] = {{NULL, capacity}, {&overflow, 1}};
  while (n < h->slots) {
    uint32_t off = n * h->slot_size + h->headroom;
    ssize_t r;
    if (n + 1 < h->slots) {
      r = packet_read(h->fd, h->slab + off, (size_t)capacity + 1);
    } else {
      iov[0].iov_base = h->slab + off;
      r = packet_readv(h->fd, iov, 2);
    }
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

/* startPoll(fd, kind, slab, slotSize, headroom, offsets, lengths, addrs, onBatch[, onError]): handle */
napi_value StartPoll(napi_env env, napi_callback_info info) {
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
napi_value StopPoll(napi_env env, napi_callback_info info) {
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
napi_value PollStats(napi_env env, napi_callback_info info) {
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
