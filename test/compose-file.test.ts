// docker-compose.yml: the sidecar wiring, credentials as secret files, the demo profile, and a configuration that loads.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse } from 'yaml'
import { loadConfig } from '../src/config.js'

interface Service {
  image?: string
  build?: unknown
  command?: string[]
  environment?: Record<string, string>
  secrets?: string[]
  profiles?: string[]
  network_mode?: string
  ports?: unknown
  user?: string
  read_only?: boolean
  cap_drop?: string[]
  stop_grace_period?: string
  depends_on?: Record<string, { condition: string }>
}

interface ComposeFile {
  services: Record<string, Service>
  secrets: Record<string, { file: string }>
}

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as ComposeFile
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
const { services } = compose

function service (name: string): Service {
  const found = services[name]
  if (found === undefined) throw new Error(`no service ${name}`)
  return found
}

/** `${NAME:-default}` as compose renders it when NAME is not set. */
function interpolate (value: string, env: Record<string, string> = {}): string {
  return value.replace(/\$\{(\w+):-([^}]*)\}/g, (_all, name: string, fallback: string) => env[name] ?? fallback)
}

function seconds (duration: string): number {
  const match = /^(\d+)s$/.exec(duration)
  if (match === null) throw new Error(`unexpected duration ${duration}`)
  return Number(match[1])
}

t.test('the app shares the proxy\'s network namespace and calls loopback with no credentials', async (t) => {
  for (const [app, proxy] of [['app', 'roecny-proxy'], ['demo-app', 'demo-proxy']] as const) {
    const s = service(app)
    t.equal(s.network_mode, `service:${proxy}`, app)
    t.same(s.environment, { ROECNY_PROXY_URL: 'http://127.0.0.1:8080' }, `${app}: the proxy's URL and nothing else`)
    t.equal(s.secrets, undefined, `${app} holds no secret`)
    t.equal(s.depends_on?.[proxy]?.condition, 'service_healthy', `${app} starts once the proxy's HEALTHCHECK passes`)
    t.equal(s.user, 'node', `${app} is not root`)
    // The stand-in app runs an example client that exists.
    const script = (s.command ?? []).join(' ').match(/\/examples\/([\w./-]+)/)?.[1]
    t.ok(script !== undefined && existsSync(join(ROOT, 'examples', script)), `${app} runs examples/${String(script)}`)
  }
  for (const name of ['roecny-proxy', 'demo-proxy']) {
    t.equal(service(name).ports, undefined, `${name} publishes no port: only its namespace reaches it`)
    t.equal(service(name).environment?.PROXY_HOST, undefined, `${name} keeps the loopback default`)
  }
})

t.test('credentials come from Docker secrets, as files, and the configuration loads', async (t) => {
  const proxy = service('roecny-proxy')
  const env = proxy.environment ?? {}
  t.notOk('ROECNY_CLIENT_ID' in env || 'ROECNY_API_KEY' in env, 'no credential in the environment')
  t.same(proxy.secrets, ['roecny_client_id', 'roecny_api_key'])
  t.equal(env.ROECNY_CLIENT_ID_FILE, '/run/secrets/roecny_client_id')
  t.equal(env.ROECNY_API_KEY_FILE, '/run/secrets/roecny_api_key')
  t.same(compose.secrets, { roecny_client_id: { file: './secrets/roecny_client_id' }, roecny_api_key: { file: './secrets/roecny_api_key' } })
  t.ok(readFileSync(join(ROOT, '.gitignore'), 'utf8').split('\n').includes('secrets/'), 'secrets/ is never committed')

  // The environment as compose renders it, with the secrets where Docker mounts them.
  const dir = t.testdir({ roecny_client_id: 'client-from-secret\n', roecny_api_key: 'key-from-secret\n' })
  const rendered: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) rendered[name] = interpolate(value, { ROECNY_BASE_URL: 'https://api.roecny.example' })
  for (const name of ['ROECNY_CLIENT_ID_FILE', 'ROECNY_API_KEY_FILE']) rendered[name] = join(dir, (rendered[name] as string).replace('/run/secrets/', ''))
  const config = loadConfig(rendered)
  t.match(config, { baseUrl: 'https://api.roecny.example', clientId: 'client-from-secret', apiKey: 'key-from-secret', proxyHost: '127.0.0.1', proxyPort: 8080 })
  t.ok(config.shutdownDelayMs + config.shutdownTimeoutMs < seconds(proxy.stop_grace_period as string) * 1000, 'the drain fits the grace period')
  t.throws(() => loadConfig(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(v)]))), /ROECNY_BASE_URL is required/, 'without a base URL it refuses to start')
})

t.test('the demo profile runs against the built-in mock with no credentials', async (t) => {
  for (const name of ['demo-proxy', 'demo-app']) t.same(service(name).profiles, ['demo'], name)
  for (const name of ['roecny-proxy', 'app']) t.equal(service(name).profiles, undefined, `${name} is a default service`)
  const demo = service('demo-proxy')
  t.same(demo.command, ['demo'])
  t.equal(demo.secrets, undefined)
  t.equal(demo.environment, undefined, 'nothing to configure')
})

t.test('the proxy containers are hardened, built from this directory and tagged with the package\'s version', async (t) => {
  for (const name of ['roecny-proxy', 'demo-proxy', 'fleet-mock', 'fleet-proxy-1', 'fleet-proxy-2', 'fleet-proxy-3']) {
    const s = service(name)
    t.equal(s.build, '.', name)
    t.equal(interpolate(s.image as string), `roecny-auth-proxy:${pkg.version}`, `${name}: the release package.json names`)
    t.equal(s.read_only, true, `${name}: read-only root filesystem`)
    t.same(s.cap_drop, ['ALL'], `${name}: no capabilities`)
    t.equal(s.user, undefined, `${name}: the image's non-root user`)
  }
})

t.test('the fleet profile: a Redis and three app + proxy pairs forming one fleet, and their configuration loads', async (t) => {
  const proxies = ['fleet-proxy-1', 'fleet-proxy-2', 'fleet-proxy-3']
  for (const name of ['fleet-mock', 'fleet-redis', ...proxies, 'fleet-app-1', 'fleet-app-2', 'fleet-app-3']) {
    t.same(service(name).profiles, ['fleet'], `${name} runs only with --profile fleet`)
  }
  t.same(service('fleet-mock').command, ['mock'])
  // The tag the smoke test's image provider supplies where no registry is reachable (test/docker/smoke.sh).
  t.equal(service('fleet-redis').image, 'redis:7-bookworm')
  // Without a password, protected mode refuses every client that is not on Redis' own loopback.
  t.same(service('fleet-redis').command, ['redis-server', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], 'nothing persisted; the other containers let in')
  t.match(readFileSync(join(ROOT, 'test/docker/smoke.sh'), 'utf8'), 'redis:7-bookworm', 'the smoke test names the same Redis')
  proxies.forEach((name, i) => {
    const proxy = service(name)
    t.equal(proxy.build, '.', name)
    const env = Object.fromEntries(Object.entries(proxy.environment ?? {}).map(([key, value]) => [key, interpolate(value)]))
    t.equal(env.REDIS_URL, 'redis://fleet-redis:6379', `${name} uses the fleet's Redis`)
    const config = loadConfig(env)
    t.equal(config.redisUrl, 'redis://fleet-redis:6379')
    t.equal(config.baseUrl, 'http://fleet-mock:8081')
    const app = service(`fleet-app-${i + 1}`)
    t.equal(app.network_mode, `service:${name}`, `fleet-app-${i + 1} shares ${name}'s network namespace`)
    t.same(app.depends_on, { [name]: { condition: 'service_healthy' } })
  })
})
