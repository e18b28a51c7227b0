{
  "targets": [
    {
      "target_name": "portico_io",
      "sources": [
        "io/native/portico_io.c",
        "io/native/throw.c",
        "io/native/args.c",
        "io/native/tun.c",
        "io/native/neigh.c",
        "io/native/gre.c",
        "io/native/steering.c",
        "io/native/poll.c",
        "io/native/write.c"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"]
    }
  ]
}
