# roecny-auth-proxy: an authenticating sidecar for the Roecny API.
# Build:  docker build -t roecny-auth-proxy:0.2.0 --build-arg REVISION="$(git rev-parse HEAD)" .
# Run:    docker run --env-file roecny.env roecny-auth-proxy:0.2.0    (serve; see README.md)
#         docker run --network host roecny-auth-proxy:0.2.0 demo      (the built-in mock, no credentials)

# --- build: every dependency, compile TypeScript -----------------------------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build
# Node's module compile cache for the image's user (uid 1000, part of the cache's key, as are the node
# version, the V8 flags and each file's path and content): every module a command can load, compiled once
# here, so that a start reads compiled code instead of compiling fastify, undici, ajv... again.
ENV NODE_OPTIONS="--max-semi-space-size=4"
ENV NODE_COMPILE_CACHE=/app/compile-cache
RUN mkdir compile-cache && chown node compile-cache
USER node
RUN node --heap-growing-percent=20 --input-type=module -e "for (const m of ['cli', 'server', 'mock/roecny', 'healthcheck']) await import('/app/dist/src/' + m + '.js')" \
  && chmod -R a+rX compile-cache

# --- runtime dependencies only -----------------------------------------------------------------
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- the image ---------------------------------------------------------------------------------
FROM node:24-bookworm-slim
# OCI labels (`docker image inspect` shows them): the release, its licence, and, from build arguments,
# the commit and the repository it was built from. VERSION and LICENSES are package.json's version
# and licence (test/dockerfile.test.ts keeps them equal); REVISION and SOURCE stay empty unless given.
ARG VERSION=0.2.0
ARG LICENSES=MIT
ARG REVISION=
ARG SOURCE=
LABEL org.opencontainers.image.title="roecny-auth-proxy" \
  org.opencontainers.image.description="Authenticating sidecar for the Roecny API" \
  org.opencontainers.image.version="${VERSION}" \
  org.opencontainers.image.licenses="${LICENSES}" \
  org.opencontainers.image.revision="${REVISION}" \
  org.opencontainers.image.source="${SOURCE}"
ENV NODE_ENV=production
# V8 heap flags for a small sidecar (docs/performance.md: Runtime settings), the same as `npm start` uses (package.json's
# config.nodeOptions); replace them with `-e NODE_OPTIONS=...`, or `-e NODE_OPTIONS=` for V8's defaults.
ENV NODE_OPTIONS="--max-semi-space-size=4"
# At most two glibc malloc arenas (one per thread by default, each keeping memory it freed): about
# 8 MiB less resident under load (docs/performance.md: Runtime settings), as `npm start` sets (config.mallocArenaMax).
ENV MALLOC_ARENA_MAX=2
# The compile cache filled in the build stage; read-only here (Node goes on if it cannot add to it).
ENV NODE_COMPILE_CACHE=/app/compile-cache
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build --chown=root:root /app/compile-cache ./compile-cache
COPY package.json ./
# Not root; the files stay root's, read-only to the process.
USER node
# The proxy listens on 127.0.0.1:8080 (PROXY_HOST, PROXY_PORT): reachable from containers that share
# its network namespace (the sidecar pattern), not from outside. ADMIN_PORT opens the probe listener.
EXPOSE 8080
# No curl in the image: node probes /-/healthz on the admin listener, the Unix socket or the proxy port.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 CMD ["node", "dist/src/healthcheck.js"]
# Exec form: node is PID 1 and gets SIGTERM itself; the CLI drains in-flight requests, then exits 0.
# --heap-growing-percent=20 (docs/performance.md: Runtime settings) goes on node's command line, since node refuses it in
# NODE_OPTIONS. `--` ends node's own options, so `--env-file PATH` after the image name reaches the CLI
# (node reads --env-file anywhere before a `--` as its own flag).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--heap-growing-percent=20", "--", "dist/src/cli.js"]
CMD ["serve"]
