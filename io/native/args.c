/*
 * args.c: checks for the arguments JavaScript passes in (integers, descriptors,
 * interface names, byte and Uint32 arrays, booleans, functions). On failure
 * each returns false with a TypeError or RangeError pending.
 */
#define _GNU_SOURCE
#include <node_api.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <net/if.h>

#include "args.h"

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

bool arg_u32(napi_env env, napi_value v, const char *what, uint32_t min, uint32_t max,
             uint32_t *out) {
  double d;
  if (!arg_integer(env, v, what, (double)min, (double)max, &d)) return false;
  *out = (uint32_t)d;
  return true;
}

bool arg_fd(napi_env env, napi_value v, int *out) {
  double d;
  if (!arg_integer(env, v, "fd", 0, 2147483647.0, &d)) return false;
  *out = (int)d;
  return true;
}

/* Interface names: 1..IFNAMSIZ-1 octets; the kernel validates the rest. */
bool arg_ifname(napi_env env, napi_value v, char out[IFNAMSIZ]) {
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

bool arg_bytes(napi_env env, napi_value v, const char *what, uint8_t **data, size_t *len) {
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

bool arg_u32_array(napi_env env, napi_value v, const char *what, uint32_t **data,
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

/* Optional boolean argument: undefined/null/absent = false. */
bool arg_optional_bool(napi_env env, size_t argc, napi_value *argv, size_t i,
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

bool arg_function(napi_env env, napi_value v, const char *what) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) == napi_ok && t == napi_function) return true;
  char msg[64];
  snprintf(msg, sizeof msg, "%s must be a function", what);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return false;
}
