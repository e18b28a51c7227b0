# Portico in a container. Run with the capabilities a VPN concentrator needs:
#   docker run -d --name portico --cap-add NET_ADMIN --cap-add NET_RAW --device /dev/net/tun \
#     --network host -v portico-data:/var/lib/portico -v ./portico.yaml:/etc/portico/portico.yaml:ro portico
# (host networking: GRE is IP protocol 47, which Docker's port publishing cannot forward.)
FROM node:24-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json binding.gyp ./
COPY io/native ./io/native
RUN npm ci
COPY . .
# A clean dist/: a host dist/ in the build context may hold dist/bench, which the image must not ship.
RUN rm -rf dist && npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/build/Release/portico_io.node ./build/Release/portico_io.node
COPY --from=build /app/dist ./dist
COPY --from=build /app/admin-ui ./admin-ui
COPY package.json ./
VOLUME /var/lib/portico
EXPOSE 1723/tcp
ENTRYPOINT ["node", "--max-semi-space-size=16", "dist/server/cli.js"]
# /etc/portico/portico.yaml when mounted, else the embedded defaults (portico help: discovery).
CMD ["serve"]
