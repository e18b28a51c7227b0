/*
 * throw.c: errno names and the Error objects the addon throws or reports:
 * message "<call>(<subject>): <ENAME> (<step>: <strerror>)" plus code, errno
 * and syscall properties.
 */
#define _GNU_SOURCE
#include <node_api.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "throw.h"

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
void throw_errno(napi_env env, int err, const char *call, const char *subject,
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
napi_value make_errno_error(napi_env env, int err, const char *call, const char *step) {
  napi_value error = NULL;
  throw_errno(env, err, call, NULL, step);
  napi_get_and_clear_last_exception(env, &error);
  return error;
}
