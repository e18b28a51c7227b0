/*
 * throw.h: how the addon reports a failure to JavaScript: Error objects that
 * carry code, errno and syscall like node's own (throw_errno, make_errno_error),
 * and NAPI_OK_OR_THROW for N-API calls that should not fail.
 */
#ifndef PORTICO_IO_THROW_H
#define PORTICO_IO_THROW_H

#include <node_api.h>
#include <stdbool.h>

/* Hidden: shared between the addon's files, not exported from the .node. */
#pragma GCC visibility push(hidden)

void throw_errno(napi_env env, int err, const char *call, const char *subject, const char *step);
napi_value make_errno_error(napi_env env, int err, const char *call, const char *step);

#pragma GCC visibility pop

#define NAPI_OK_OR_THROW(env, expr)                                   \
  do {                                                                \
    if ((expr) != napi_ok) {                                          \
      bool pending_ = false;                                          \
      napi_is_exception_pending((env), &pending_);                    \
      if (!pending_) napi_throw_error((env), NULL, "N-API call failed: " #expr); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

#endif
