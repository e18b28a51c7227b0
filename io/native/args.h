/*
 * args.h: checks for the arguments JavaScript passes in. Each returns false
 * with a TypeError or RangeError pending when the value is unusable, so a
 * caller only has to return NULL.
 */
#ifndef PORTICO_IO_ARGS_H
#define PORTICO_IO_ARGS_H

#include <node_api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <net/if.h>

/* Hidden: shared between the addon's files, not exported from the .node. */
#pragma GCC visibility push(hidden)

bool arg_u32(napi_env env, napi_value v, const char *what, uint32_t min, uint32_t max,
             uint32_t *out);
bool arg_fd(napi_env env, napi_value v, int *out);
bool arg_ifname(napi_env env, napi_value v, char out[IFNAMSIZ]);
bool arg_bytes(napi_env env, napi_value v, const char *what, uint8_t **data, size_t *len);
bool arg_u32_array(napi_env env, napi_value v, const char *what, uint32_t **data, size_t *len);
bool arg_optional_bool(napi_env env, size_t argc, napi_value *argv, size_t i, const char *what,
                       bool *out);
bool arg_function(napi_env env, napi_value v, const char *what);

#pragma GCC visibility pop

#endif
