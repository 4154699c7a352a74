# roecny-auth-proxy: an authenticating sidecar for the Roecny API.
# Build:  docker build -t roecny-auth-proxy .
# Run:    docker run --env-file roecny.env roecny-auth-proxy          (serve; see README.md)
#         docker run --network host roecny-auth-proxy demo            (the built-in mock, no credentials)

# --- build: every dependency, compile TypeScript -----------------------------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime dependencies only -----------------------------------------------------------------
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- the image ---------------------------------------------------------------------------------
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
# Not root; the files stay root's, read-only to the process.
USER node
# The proxy listens on 127.0.0.1:8080 (PROXY_HOST, PROXY_PORT): reachable from containers that share
# its network namespace (the sidecar pattern), not from outside. ADMIN_PORT opens the probe listener.
EXPOSE 8080
# No curl in the image: node probes /-/healthz on the admin listener, the Unix socket or the proxy port.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 CMD ["node", "dist/src/healthcheck.js"]
# Exec form: node is PID 1 and gets SIGTERM itself; the CLI drains in-flight requests, then exits 0.
# `--` ends node's own options, so `--env-file PATH` after the image name reaches the CLI (Node 20
# would otherwise read it as its own flag).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--", "dist/src/cli.js"]
CMD ["serve"]
