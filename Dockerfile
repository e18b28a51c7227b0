# Portico in a container (README, "Docker"). Build, then run with the least a VPN concentrator needs:
#   docker build -t portico .
#   docker run -d --name portico --network host --cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW \
#     --device /dev/net/tun -v portico-data:/var/lib/portico portico
# (--cap-add BPF too, Docker 23+, for more than one data-plane thread.) Host networking: GRE is IP
# protocol 47, not TCP or UDP, and Docker publishes only TCP/UDP ports.
# Configuration: /etc/portico/portico.yaml when mounted (-v ./portico.yaml:/etc/portico/portico.yaml:ro),
# else the embedded defaults.

# --- build: the native addon compiled here by node-gyp, against this image's Node ---
FROM node:24-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
# node-gyp takes the headers the image's Node ships in /usr/local/include/node instead of downloading
# them from nodejs.org (npm_package_config_node_gyp_* options override npm_config_*).
ENV npm_package_config_node_gyp_nodedir=/usr/local
WORKDIR /app
# Dependencies and the addon first, so that a source change reuses this layer.
COPY package.json package-lock.json binding.gyp ./
COPY io/native ./io/native
RUN npm ci --no-audit --no-fund
# .dockerignore keeps the host's node_modules, build/ and dist/ out: these are the ones built above.
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# --- runtime: Node, the compiled server, production dependencies, the addon ---
FROM node:24-bookworm-slim
# nft: network.masquerade loads its nftables table (proxy ARP entries are the addon's ioctls: no iproute2).
RUN apt-get update && apt-get install -y --no-install-recommends nftables \
  && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/build/Release/portico_io.node ./build/Release/portico_io.node
COPY --from=build /app/dist ./dist
COPY --from=build /app/admin-ui ./admin-ui
# `portico` on the PATH for `docker exec portico portico user add NAME --password-stdin`.
RUN chmod 755 dist/server/cli.js && ln -s /app/dist/server/cli.js /usr/local/bin/portico
# The user store, the console's database and the accounting queue.
VOLUME /var/lib/portico
EXPOSE 1723/tcp
# Node is PID 1 and handles SIGTERM itself: every client gets LCP Terminate-Request, Call-Disconnect-Notify
# and Stop-Control-Connection-Request within shutdownTimeout (5 s), inside `docker stop`'s 10 s.
STOPSIGNAL SIGTERM
# The console's login page (admin.listen's default; with another admin.listen, TLS or admin.enabled:
# false, give --health-cmd or --no-healthcheck). No curl in the slim image: Node's fetch.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "--max-semi-space-size=16", "dist/server/cli.js"]
CMD ["serve"]
