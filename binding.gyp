{
  "targets": [
    {
      "target_name": "portico_io",
      "sources": ["io/native/portico_io.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"]
    }
  ]
}
