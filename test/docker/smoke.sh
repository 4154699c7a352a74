#!/usr/bin/env bash
# Docker smoke test: builds the image, runs it against the built-in mock (host network, loopback
# only), sends a request through it, checks the user, the HEALTHCHECK, the admin listener, Node 24
# and its compile cache, the OCI labels, and that `docker stop` drains an in-flight request and exits
# 0; then runs the compose file's demo and fleet profiles (the fleet's Redis is redis:7-bookworm,
# which ../shared/tools/docker-standin.sh provides where no registry is reachable); prints the image size.
# Usage: bash test/docker/smoke.sh  (npm run test:docker). Prints SKIPPED and exits 0 without Docker.
set -uo pipefail
cd "$(dirname "$0")/../.."

image=${SMOKE_IMAGE:-roecny-auth-proxy:smoke}
skip() { echo "SKIPPED: docker smoke test: $*"; exit 0; }
command -v docker >/dev/null 2>&1 || skip "no docker command on this machine"
docker info >/dev/null 2>&1 || skip "no Docker engine answers (docker info failed)"
command -v curl >/dev/null 2>&1 || { echo "docker smoke test: curl is needed on the host" >&2; exit 1; }

passed=0
failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }

work=$(mktemp -d)
run_id=$$
mock=roecny-smoke-mock-$run_id
proxy=roecny-smoke-proxy-$run_id
project=roecny-smoke-$run_id
compose=()
cleanup() {
  docker rm -f "$mock" "$proxy" >/dev/null 2>&1
  if [ ${#compose[@]} -gt 0 ]; then ROECNY_PROXY_IMAGE=$image "${compose[@]}" -p "$project" --profile demo --profile fleet down >/dev/null 2>&1; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { node -e "const s = require('node:net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close() })"; }
# Polls `$@` once a second (the container's own pace, not a test timer) for up to $1 seconds.
wait_for() { local seconds=$1; shift; for _ in $(seq "$seconds"); do "$@" && return 0; sleep 1; done; return 1; }
http_ok() { curl -fsS -o /dev/null "$1" 2>/dev/null; }
answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null)" != 000 ]; }
healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$proxy" 2>/dev/null)" = healthy ]; }

version=$(node -p 'require("./package.json").version')
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
echo "# docker build --network host -t $image --build-arg REVISION=$revision ."
if ! docker build --network host -t "$image" --build-arg REVISION="$revision" . >"$work/build.log" 2>&1; then
  tail -30 "$work/build.log"
  not_ok "the image builds"
label() { docker image inspect -f "{{index .Config.Labels \"org.opencontainers.image.$1\"}}" "$image"; }
check "OCI labels: version $(label version) (package.json: $version), licence $(label licenses)" \
  test "$(label version)" = "$version" -a "$(label licenses)" = MIT
check "  ... revision from the build argument ($(label revision))" test "$(label revision)" = "$revision"
  echo "docker-smoke: $passed passed, $failed failed"
  exit 1
fi
ok "the image builds"
label() { docker image inspect -f "{{index .Config.Labels \"org.opencontainers.image.$1\"}}" "$image"; }
check "OCI labels: version $(label version) (package.json: $version), licence $(label licenses)" \
  test "$(label version)" = "$version" -a "$(label licenses)" = MIT
check "  ... revision from the build argument ($(label revision))" test "$(label revision)" = "$revision"

mock_port=$(free_port)
proxy_port=$(free_port)
admin_port=$(free_port)
# Credentials as an operator would pass them: the ID in an env file given to the CLI, the key as a
# mounted secret file. Ports go into the container's environment, where the HEALTHCHECK reads them.
printf 'ROECNY_BASE_URL=http://127.0.0.1:%s\nROECNY_CLIENT_ID=demo-client\n' "$mock_port" >"$work/roecny.env"
printf 'demo-key\n' >"$work/api_key"
chmod 0444 "$work/roecny.env" "$work/api_key"

docker run -d --name "$mock" --network host -e MOCK_PORT="$mock_port" -e MOCK_FAULT_ROUTES=true "$image" mock >/dev/null
check "the mock runs from the same image" wait_for 30 answers "http://127.0.0.1:$mock_port/"

docker run -d --name "$proxy" --network host \
  --health-interval 1s --health-start-period 30s \
  -e PROXY_PORT="$proxy_port" -e ADMIN_PORT="$admin_port" \
  -e ROECNY_API_KEY_FILE=/run/secrets/roecny_api_key \
  -e SHUTDOWN_TIMEOUT_MS=20000 \
  -v "$work/roecny.env:/config/roecny.env:ro" -v "$work/api_key:/run/secrets/roecny_api_key:ro" \
  "$image" serve --env-file /config/roecny.env >/dev/null

check "the proxy becomes ready (admin listener /-/readyz)" wait_for 30 http_ok "http://127.0.0.1:$admin_port/-/readyz"
body=$(curl -sS "http://127.0.0.1:$proxy_port/api/v1/balances/current" 2>&1)
check "a request through the proxy gets Roecny's answer" grep -q '"currency":"USD"' <<<"$body"
metrics=$(curl -sS "http://127.0.0.1:$admin_port/-/metrics" 2>&1)
check "metrics on the admin listener count the login and the request" \
  bash -c 'grep -q "^roecny_proxy_logins_total{result=\"ok\"} 1$" <<<"$1" && grep -q "^roecny_proxy_requests_total{method=\"GET\",status_class=\"2xx\"} 1$" <<<"$1"' _ "$metrics"
check "the container user is node, not root" test "$(docker image inspect -f '{{.Config.User}}' "$image")" = node
pid1_uid=$(docker exec "$proxy" awk '/^Uid:/ { print $2 }' /proc/1/status 2>/dev/null)
check "the proxy process (PID 1) runs as uid 1000 (got ${pid1_uid:-none})" test "$pid1_uid" = 1000
check "the HEALTHCHECK (node, no curl) reports healthy" wait_for 30 healthy
docker exec "$proxy" sh -c 'command -v curl' >/dev/null 2>&1
check "the image has no curl" test $? -ne 0

node_version=$(docker run --rm --entrypoint node "$image" --version 2>&1)
check "the image runs Node 24 LTS (got $node_version)" grep -q '^v24\.' <<<"$node_version"
cache_log=$(docker run --rm -e NODE_DEBUG_NATIVE=COMPILE_CACHE "$image" --version 2>&1)
check "a start reads compiled code from the image's compile cache" grep -q 'V8 code cache for .*/app/dist/src/cli.js was accepted' <<<"$cache_log"

out=$(docker run --rm "$image" --env-file /nonexistent.env 2>&1)
code=$?
check "--env-file after the image name reaches the CLI (exit 78, got $code)" test "$code" = 78
check "  ... with the CLI's own message" grep -q 'env-file cannot be read (ENOENT)' <<<"$out"

# Graceful drain under `docker stop`: a 100 MB download at 20 MB/s is in flight when SIGTERM comes.
size=100000000
curl -sS --limit-rate 20M -o "$work/download" -w '%{http_code}' "http://127.0.0.1:$proxy_port/api/v1/test/bytes/$size" >"$work/download.status" 2>"$work/download.err" &
download=$!
downloading() { [ -s "$work/download" ]; }
wait_for 10 downloading
started=$SECONDS
docker stop -t 30 "$proxy" >/dev/null
stop_seconds=$((SECONDS - started))
wait "$download"
curl_exit=$?
check "the in-flight download finished after docker stop (curl exit $curl_exit, status $(cat "$work/download.status"))" \
  test "$curl_exit" = 0 -a "$(cat "$work/download.status")" = 200
got=$(stat -c %s "$work/download" 2>/dev/null || echo 0)
check "  ... complete: $got of $size bytes" test "$got" = "$size"
exit_code=$(docker inspect -f '{{.State.ExitCode}}' "$proxy")
check "the container exited 0 after draining (exit $exit_code, stop took ${stop_seconds} s)" test "$exit_code" = 0
logs=$(docker logs "$proxy" 2>&1)
check "  ... SIGTERM reached node and the drain was logged" \
  bash -c 'grep -q "\"signal\":\"SIGTERM\"" <<<"$1" && grep -q "\"msg\":\"stopped\"" <<<"$1"' _ "$logs"

# The compose file's demo profile: the example app in the proxy's network namespace gets an answer.
if docker compose version >/dev/null 2>&1; then compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then compose=(docker-compose)
fi
if [ ${#compose[@]} = 0 ]; then
  echo "SKIPPED: compose demo profile: neither 'docker compose' nor docker-compose is installed"
else
  app_answers() { ROECNY_PROXY_IMAGE=$image "${compose[@]}" -p "$project" --profile demo logs demo-app 2>/dev/null | grep -q '"currency":"USD"'; }
  ROECNY_PROXY_IMAGE=$image "${compose[@]}" -p "$project" --profile demo up -d --no-build demo-app >"$work/compose.log" 2>&1
  what="compose --profile demo: the app in the proxy's network namespace gets Roecny's answer"
  if wait_for 60 app_answers; then ok "$what"; else not_ok "$what"; tail -20 "$work/compose.log"; fi
fi


# The compose file's fleet profile, started as its users start it (the image is the one built above):
# three app + proxy pairs and one Redis; the proxies form one fleet, so the three log in once.
if [ ${#compose[@]} = 0 ]; then
  echo "SKIPPED: compose fleet profile: neither 'docker compose' nor docker-compose is installed"
elif ! docker image inspect redis:7-bookworm >/dev/null 2>&1 && ! docker pull redis:7-bookworm >/dev/null 2>&1; then
  echo "SKIPPED: compose fleet profile: no redis:7-bookworm image (bash ../shared/tools/docker-standin.sh redis:7-bookworm provides one)"
else
  fleet() { ROECNY_PROXY_IMAGE=$image "${compose[@]}" -p "$project" --profile fleet "$@"; }
  fleet up -d --no-build >"$work/fleet.log" 2>&1
  apps_answer() { for n in 1 2 3; do fleet logs "fleet-app-$n" 2>/dev/null | grep -q '"currency":"USD"' || return 1; done; }
  what="compose --profile fleet: each of the three apps gets Roecny's answer through its own proxy"
  if wait_for 90 apps_answer; then ok "$what"; else not_ok "$what"; tail -20 "$work/fleet.log"; fleet logs --tail 10 >"$work/fleet-services.log" 2>&1; tail -40 "$work/fleet-services.log"; fi
  # Each proxy's /-/status, asked from inside its container (it listens on its loopback only).
  status_of() { fleet exec -T "fleet-proxy-$1" node -e 'fetch("http://127.0.0.1:8080/-/status").then((r) => r.json()).then((s) => console.log(JSON.stringify(s)))' 2>/dev/null; }
  joined() { for n in 1 2 3; do status_of "$n" | grep -q '"fleet":"joined"' || return 1; done; }
  check "  ... the three proxies joined the fleet's Redis" wait_for 30 joined
  logins=0
  for n in 1 2 3; do
    ok_logins=$(status_of "$n" | node -e 'let s = ""; process.stdin.on("data", (d) => { s += d }).on("end", () => console.log(JSON.parse(s || "{}").logins?.ok ?? "none"))')
    [ "$ok_logins" = none ] || logins=$((logins + ok_logins))
  done
  check "  ... one login for the whole fleet (got $logins)" test "$logins" = 1
  fleet down >/dev/null 2>&1
fi

bytes=$(docker image inspect -f '{{.Size}}' "$image")
base=$(docker image inspect -f '{{.Size}}' node:24-bookworm-slim 2>/dev/null || echo 0)
echo "# image $image: $((bytes / 1000000)) MB ($bytes bytes; the node:24-bookworm-slim base: $((base / 1000000)) MB)"
if [ "$failed" -gt 0 ]; then
  echo "# proxy logs:"; docker logs "$proxy" 2>&1 | tail -20
fi
echo "docker-smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
