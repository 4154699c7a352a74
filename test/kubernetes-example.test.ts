// deploy/kubernetes: a native sidecar with probes on the admin port and credentials as files; the config it sets runs.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { loadConfig } from '../src/config.js'
import { createLogger } from '../src/log.js'
import { startProxy } from '../src/server.js'
import { get } from './helpers/http.js'
import { startMock } from './helpers/stack.js'

interface Probe { httpGet: { path: string, port: string | number } }
interface Container {
  name: string
  restartPolicy?: string
  env?: Array<{ name: string, value: string }>
  ports?: Array<{ name: string, containerPort: number }>
  startupProbe?: Probe
  livenessProbe?: Probe
  readinessProbe?: Probe
  resources?: { requests?: Record<string, string>, limits?: Record<string, string> }
  securityContext?: Record<string, unknown>
  volumeMounts?: Array<{ name: string, mountPath: string, readOnly?: boolean }>
}
interface PodSpec {
  terminationGracePeriodSeconds: number
  securityContext: Record<string, unknown>
  initContainers: Container[]
  containers: Container[]
  volumes: Array<{ name: string, secret?: { secretName: string, defaultMode: number } }>
}
interface Manifest { kind: string, metadata: { name: string }, spec: { template: { spec: PodSpec } }, stringData?: Record<string, string> }

const DIR = fileURLToPath(new URL('../deploy/kubernetes/', import.meta.url))

function manifests (file: string): Manifest[] {
  // Kubernetes reads YAML 1.1: `defaultMode: 0440` is octal there.
  return parseAllDocuments(readFileSync(join(DIR, file), 'utf8'), { version: '1.1' }).map((doc) => doc.toJS() as Manifest)
}

const deployment = manifests('deployment.yaml').find((m) => m.kind === 'Deployment') as Manifest
const pod = deployment.spec.template.spec
const sidecar = pod.initContainers.find((c) => c.name === 'roecny-proxy') as Container
const env = Object.fromEntries((sidecar.env ?? []).map(({ name, value }) => [name, value]))

function mB (quantity: string): number {
  const match = /^(\d+)Mi$/.exec(quantity)
  if (match === null) throw new Error(`unexpected quantity ${quantity}`)
  return Number(match[1])
}

t.test('the proxy is a native sidecar: an init container with restartPolicy Always', async (t) => {
  t.equal(sidecar.restartPolicy, 'Always')
  t.notOk(pod.containers.some((c) => c.name === 'roecny-proxy'), 'not also a regular container')
})

t.test('startup, liveness and readiness probes go to the admin listener', async (t) => {
  t.equal(env.ADMIN_HOST, '0.0.0.0', 'reachable on the pod IP')
  const admin = sidecar.ports?.find((p) => p.name === 'admin')
  t.equal(String(admin?.containerPort), env.ADMIN_PORT, 'the admin port is the one the proxy listens on')
  t.equal(env.PROXY_HOST, undefined, 'the proxy listener keeps its loopback default')
  t.same(sidecar.startupProbe?.httpGet, { path: '/-/healthz', port: 'admin' })
  t.same(sidecar.livenessProbe?.httpGet, { path: '/-/healthz', port: 'admin' })
  t.same(sidecar.readinessProbe?.httpGet, { path: '/-/readyz', port: 'admin' })
})

t.test('credentials come from a Secret mounted as files', async (t) => {
  const mount = sidecar.volumeMounts?.find((m) => m.mountPath === '/var/run/secrets/roecny')
  t.equal(mount?.readOnly, true)
  t.notOk(sidecar.volumeMounts?.some((m) => 'subPath' in m), 'mounted whole: a subPath mount never sees a rotated Secret')
  const volume = pod.volumes.find((v) => v.name === mount?.name)
  t.equal(volume?.secret?.secretName, 'roecny-credentials')
  t.equal(volume?.secret?.defaultMode, 0o440, 'readable by the pod\'s group (fsGroup) only')
  t.equal(pod.securityContext.fsGroup, 1000)
  const secret = manifests('secret.example.yaml').find((m) => m.kind === 'Secret')
  t.equal(secret?.metadata.name, 'roecny-credentials')
  for (const name of ['ROECNY_CLIENT_ID_FILE', 'ROECNY_API_KEY_FILE', 'REDIS_URL_FILE']) {
    const key = (env[name] as string).replace('/var/run/secrets/roecny/', '')
    t.ok(secret?.stringData?.[key] !== undefined, `${name} names the Secret's key ${key}`)
  }
  t.notOk('ROECNY_CLIENT_ID' in env || 'ROECNY_API_KEY' in env || 'REDIS_URL' in env, 'no credential in the environment')
  for (const app of pod.containers) {
    t.equal(app.volumeMounts, undefined, `${app.name} does not see the credentials`)
    t.same(app.env, [{ name: 'ROECNY_PROXY_URL', value: 'http://127.0.0.1:8080' }], `${app.name} only knows the proxy's URL`)
  }
})

t.test('resources, grace period and hardening', async (t) => {
  const { requests = {}, limits = {} } = sidecar.resources ?? {}
  // Measured on Node 24: ~89 MiB idle, ~119 MiB under load, ~170 MiB streaming 1 GiB: the request covers the load, the limit the streaming peak.
  t.ok(mB(requests.memory as string) >= 120 && mB(limits.memory as string) >= 176, 'memory fits the measured footprint')
  t.ok(mB(limits.memory as string) >= mB(requests.memory as string))
  t.type(requests.cpu, 'string')
  t.type(limits.cpu, 'string')
  const drainMs = Number(env.SHUTDOWN_DELAY_MS) + Number(env.SHUTDOWN_TIMEOUT_MS)
  t.ok(pod.terminationGracePeriodSeconds * 1000 > drainMs, 'the drain fits the grace period')
  t.match(sidecar.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } })
  t.match(pod.securityContext, { runAsNonRoot: true, runAsUser: 1000 })
})

t.test('the sidecar\'s configuration starts a proxy whose probes answer on the admin listener', async (t) => {
  const mock = await startMock(t)
  // No Redis answers at this URL: readiness does not depend on it, the proxy goes on alone.
  const dir = t.testdir({ 'client-id': 'demo-client\n', 'api-key': 'demo-key\n', 'redis-url': 'redis://127.0.0.1:1\n' })
  // The manifest's environment, but on loopback and free ports, against the mock, with the Secret's files here.
  const config = loadConfig({
    ...env,
    ROECNY_BASE_URL: mock.url,
    ROECNY_CLIENT_ID_FILE: (env.ROECNY_CLIENT_ID_FILE as string).replace('/var/run/secrets/roecny', dir),
    ROECNY_API_KEY_FILE: (env.ROECNY_API_KEY_FILE as string).replace('/var/run/secrets/roecny', dir),
    REDIS_URL_FILE: (env.REDIS_URL_FILE as string).replace('/var/run/secrets/roecny', dir),
    ADMIN_HOST: '127.0.0.1',
    ADMIN_PORT: '0',
    PROXY_PORT: '0'
  })
  t.equal(config.shutdownDelayMs, 5000)
  const proxy = await startProxy({ ...config, shutdownDelayMs: 0 }, { logger: createLogger('silent') })
  t.teardown(proxy.shutdown)
  await proxy.tokens.acquire()
  for (const probe of [sidecar.startupProbe, sidecar.livenessProbe, sidecar.readinessProbe]) {
    const path = probe?.httpGet.path as string
    t.equal((await get(`${proxy.adminUrl as string}${path}`)).status, 200, path)
  }
  const metrics = await get(`${proxy.adminUrl as string}/-/metrics`)
  t.match(metrics.body, /^roecny_proxy_logins_total\{result="ok"\} 1$/m, 'Prometheus finds the metrics there too')
})

t.test('fleet mode: the sidecars name the Redis of fleet.yaml, whose password comes from a Secret', async (t) => {
  const [service, redis] = manifests('fleet.yaml') as unknown as [
    { kind: string, metadata: { name: string }, spec: { ports: Array<{ port: number }> } },
    { kind: string, spec: { template: { spec: { containers: Array<{ args: string[], env: Array<{ name: string, valueFrom?: { secretKeyRef: { name: string } } }> }> } } } }
  ]
  t.equal(service.kind, 'Service')
  t.equal(redis.kind, 'Deployment')
  const secret = manifests('secret.example.yaml').find((m) => m.kind === 'Secret')
  const url = new URL(secret?.stringData?.['redis-url'] as string)
  t.equal(url.hostname, service.metadata.name, 'the URL names the Service')
  t.equal(Number(url.port), service.spec.ports[0]?.port)
  const container = redis.spec.template.spec.containers[0]
  t.match(container?.args, ['--save', '', '--appendonly', 'no', '--requirepass', '$(REDIS_PASSWORD)'], 'nothing on disk, a password required')
  t.equal(container?.env.find((e) => e.name === 'REDIS_PASSWORD')?.valueFrom?.secretKeyRef.name, 'roecny-fleet-redis')
})
