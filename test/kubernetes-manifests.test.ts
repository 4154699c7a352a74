// deploy/kubernetes: every layout assembles, every object passes Kubernetes' own schemas, and the docs'
// "Run it" steps create every Secret key, ConfigMap key and file the containers read; the sidecar's
// configuration, so assembled and so created, starts a proxy (and, in fleet mode, joins Redis as the
// manifest starts it), and the stand-in application stops at once on SIGTERM.
import { execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import t from 'tap'
import type { Test } from 'tap'
import { loadConfig } from '../src/config.js'
import { createLogger } from '../src/log.js'
import { startProxy } from '../src/server.js'
import { get, json } from './helpers/http.js'
import { assemble, jsonPatch, KUBERNETES, layouts, readKustomization, ROOT, runItSteps, runSteps, strategicMerge } from './helpers/kustomize.js'
import type { K8sObject, Recorded } from './helpers/kustomize.js'
import { NO_REDIS, REDIS_SERVER } from './helpers/redis.js'
import { startMock } from './helpers/stack.js'
import { until } from './helpers/until.js'

interface EnvVar {
  name: string
  value?: string
  valueFrom?: { secretKeyRef?: { name: string, key: string }, configMapKeyRef?: { name: string, key: string } }
}
interface Probe { httpGet?: { path: string, port: string | number }, periodSeconds?: number, failureThreshold?: number }
interface Container {
  name: string
  image: string
  command?: string[]
  args?: string[]
  restartPolicy?: string
  env?: EnvVar[]
  envFrom?: unknown[]
  ports?: Array<{ name?: string, containerPort: number }>
  startupProbe?: Probe
  livenessProbe?: Probe
  readinessProbe?: Probe
  resources?: { requests?: Record<string, string>, limits?: Record<string, string> }
  securityContext?: Record<string, unknown>
  volumeMounts?: Array<{ name: string, mountPath: string, readOnly?: boolean, subPath?: string }>
}
interface Volume {
  name: string
  secret?: { secretName: string, defaultMode?: number, items?: Array<{ key: string, path: string }> }
  configMap?: { name: string, items?: Array<{ key: string, path: string }> }
}
interface PodSpec {
  terminationGracePeriodSeconds: number
  securityContext: Record<string, unknown>
  topologySpreadConstraints?: Array<{ topologyKey: string, labelSelector: { matchLabels: Record<string, string> } }>
  initContainers?: Container[]
  containers: Container[]
  volumes?: Volume[]
}
interface Workload extends K8sObject { spec: { replicas?: number, selector: { matchLabels: Record<string, string> }, template: { metadata: { labels: Record<string, string> }, spec: PodSpec } } }

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
const IMAGE = `roecny-auth-proxy:${pkg.version}`
const DOCS = ['docs/kubernetes.md', 'deploy/kubernetes/README.md']
const OVERLAYS = layouts('Kustomization')
const COMPONENTS = layouts('Component')
/** Every way the layout is applied: each Kustomization alone, and with each component. */
const VARIANTS = OVERLAYS.flatMap((overlay) => [
  { name: overlay, overlay, components: [] as string[] },
  ...COMPONENTS.map((component) => ({ name: `${overlay} + ${component}`, overlay, components: [`../${component}`] }))
])

// Peak resident memory of the proxy measured on Node 24 with the image's settings (docs/kubernetes.md, Resources).
const MEASURED_MIB = { load: 116, streaming: 173, twoStreams: 214 }

function mebibytes (quantity: string): number {
  const match = /^(\d+)Mi$/.exec(quantity)
  if (match === null) throw new Error(`unexpected quantity ${quantity}`)
  return Number(match[1])
}

function workloads (objects: K8sObject[]): Workload[] {
  return objects.filter((o) => o.kind === 'Deployment') as Workload[]
}

function app (objects: K8sObject[]): Workload {
  return workloads(objects).find((w) => w.spec.template.spec.initContainers?.some((c) => c.name === 'roecny-proxy')) as Workload
}

function sidecarOf (objects: K8sObject[]): Container {
  return app(objects).spec.template.spec.initContainers?.find((c) => c.name === 'roecny-proxy') as Container
}

/** Kubernetes' own schema for the object's apiVersion and kind, from kubernetes-models. */
async function validate (object: K8sObject): Promise<void> {
  const models = await import(`kubernetes-models/${object.apiVersion}`) as Record<string, new (data: object) => { validate: () => void }>
  const Model = models[object.kind]
  if (Model === undefined) throw new Error(`kubernetes-models has no ${object.apiVersion} ${object.kind}`)
  new Model(object).validate()
}

t.test('the layout: a base without Redis, overlays and components that kustomize and this test assemble alike', async (t) => {
  t.ok(OVERLAYS.includes('base') && OVERLAYS.includes('fleet'), `overlays: ${OVERLAYS.join(', ')}`)
  t.same(COMPONENTS, ['strict-readiness'])
  const base = assemble(join(KUBERNETES, 'base'))
  t.same(base.map((o) => o.kind).sort(), ['Deployment', 'NetworkPolicy', 'PodDisruptionBudget'])
  t.notOk(sidecarOf(base).env?.some((e) => e.name.startsWith('REDIS_')), 'the base knows no Redis')
  for (const overlay of OVERLAYS.filter((name) => name !== 'base')) {
    t.same(readKustomization(join(KUBERNETES, overlay)).resources?.[0], '../base', `${overlay} builds on the base`)
  }
  t.throws(() => assemble(join(KUBERNETES, 'strict-readiness')), /is a Component/)
})

t.test('the assembler: strategic merge by each list\'s key, JSON patches, and what it refuses', async (t) => {
  t.same(strategicMerge({ env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], args: ['x'] }, { env: [{ name: 'B', value: '3' }, { name: 'C', value: '4' }], args: ['y'] }),
    { env: [{ name: 'A', value: '1' }, { name: 'B', value: '3' }, { name: 'C', value: '4' }], args: ['y'] }, 'env merges by name; other lists are replaced')
  t.same(strategicMerge({ a: { b: 1 } }, { a: { c: 2 } }), { a: { b: 1, c: 2 } }, 'maps merge')
  t.same(strategicMerge({ volumes: 'x' }, { volumes: [{ name: 'v' }] }), { volumes: [{ name: 'v' }] })
  t.same(jsonPatch({ a: [1, 2], b: { c: 1 } }, [{ op: 'remove', path: '/a/0' }, { op: 'add', path: '/b/d', value: 2 }, { op: 'remove', path: '/b/c' }]), { a: [2], b: { d: 2 } })
  t.throws(() => jsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }]), /is not 2/)
  t.throws(() => jsonPatch({ a: 1 }, [{ op: 'replace', path: '/b', value: 2 }]), /nothing there/)
  t.throws(() => jsonPatch({ a: 1 }, [{ op: 'replace', path: '/x/y', value: 2 }]), /no x/)
  t.throws(() => jsonPatch({ a: 1 }, [{ op: 'replace', path: '/a/y', value: 2 }]), /not a container/)
  const dir = t.testdir({
    odd: { 'kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages: []\n' },
    twice: { 'kustomization.yaml': 'kind: Kustomization\nresources: [a.yaml, a.yaml]\n', 'a.yaml': 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\n' },
    outside: { 'kustomization.yaml': 'kind: Kustomization\nresources: [../twice/a.yaml]\npatches: [{path: ../twice/a.yaml}]\n' },
    untargeted: { 'kustomization.yaml': 'kind: Kustomization\nresources: [../twice/a.yaml]\npatches: [{path: p.yaml}]\n', 'p.yaml': '- {op: remove, path: /x}\n' },
    unmatched: { 'kustomization.yaml': 'kind: Kustomization\nresources: [../twice/a.yaml]\npatches: [{path: p.yaml, target: {kind: Service, name: t}}]\n', 'p.yaml': '- {op: remove, path: /x}\n' },
    unmatchedMerge: { 'kustomization.yaml': 'kind: Kustomization\nresources: [../twice/a.yaml]\npatches: [{path: p.yaml}]\n', 'p.yaml': 'apiVersion: v1\nkind: Service\nmetadata: {name: t}\n' },
    notComponent: { 'kustomization.yaml': 'kind: Kustomization\ncomponents: [../twice]\n' }
  })
  t.throws(() => assemble(join(dir, 'odd')), /fields this test cannot assemble: images/)
  t.throws(() => assemble(join(dir, 'twice')), /Service\/s defined twice/)
  t.throws(() => assemble(join(dir, 'outside')), /only from within/)
  t.throws(() => assemble(join(dir, 'untargeted')), /needs a target/)
  t.throws(() => assemble(join(dir, 'unmatched')), /0 objects match Service\/t/)
  t.throws(() => assemble(join(dir, 'unmatchedMerge')), /0 objects match Service\/t/)
  t.throws(() => assemble(join(dir, 'notComponent')), /is not a Component/)
  await t.rejects(validate({ apiVersion: 'v1', kind: 'NoSuchKind', metadata: { name: 'x' } }), /has no v1 NoSuchKind/)
})

for (const variant of VARIANTS) {
  t.test(`${variant.name}: every object passes Kubernetes' schemas`, async (t) => {
    const objects = assemble(join(KUBERNETES, variant.overlay), variant.components)
    for (const object of objects) {
      await t.resolves(validate(object), `${object.kind}/${object.metadata.name}`)
    }
  })
}

t.test('the schemas are Kubernetes\' own: a bad object is refused', async (t) => {
  const [deployment] = assemble(join(KUBERNETES, 'base')).filter((o) => o.kind === 'Deployment') as Workload[]
  const broken = structuredClone(deployment) as Workload
  ;(broken.spec.template.spec.initContainers?.[0] as Container).ports = [{ name: 'admin', containerPort: 'nine' as unknown as number }]
  await t.rejects(validate(broken), /containerPort must be integer/)
})

t.test('the proxy: a native sidecar of the package\'s version, probes on the admin listener', async (t) => {
  for (const variant of VARIANTS) {
    const objects = assemble(join(KUBERNETES, variant.overlay), variant.components)
    const pod = app(objects).spec.template.spec
    const sidecar = sidecarOf(objects)
    t.equal(sidecar.restartPolicy, 'Always', `${variant.name}: an init container with restartPolicy Always`)
    t.notOk(pod.containers.some((c) => c.name === 'roecny-proxy'), 'not also a regular container')
    t.equal(sidecar.image, IMAGE, `${variant.name}: the image of this release`)
    for (const container of [...pod.initContainers ?? [], ...pod.containers]) {
      t.match(container.image, /:\d[\w.-]*$/, `${container.name}: a pinned tag`)
    }
    const env = Object.fromEntries((sidecar.env ?? []).map((e) => [e.name, e.value]))
    t.equal(env.ADMIN_HOST, '0.0.0.0', 'the admin listener on the pod IP')
    t.equal(String(sidecar.ports?.find((p) => p.name === 'admin')?.containerPort), env.ADMIN_PORT)
    t.equal(env.PROXY_HOST, undefined, 'the proxy listener keeps its loopback default')
    const strict = variant.components.length > 0
    t.same(sidecar.startupProbe?.httpGet, { path: '/-/readyz', port: 'admin' }, 'started once the first token is there')
    t.ok((sidecar.startupProbe?.periodSeconds ?? 10) * (sidecar.startupProbe?.failureThreshold ?? 3) >= 120, 'a slow first login is waited for, minutes')
    t.same(sidecar.livenessProbe?.httpGet, { path: '/-/healthz', port: 'admin' }, 'liveness never depends on Roecny')
    t.same(sidecar.readinessProbe?.httpGet, { path: strict ? '/-/readyz' : '/-/healthz', port: 'admin' },
      strict ? `${variant.name}: readiness follows the token (opt-in)` : `${variant.name}: a Roecny outage keeps the pod in its Service`)
  }
})

t.test('availability, resources, grace period and hardening', async (t) => {
  for (const overlay of OVERLAYS) {
    const objects = assemble(join(KUBERNETES, overlay))
    const deployment = app(objects)
    const pod = deployment.spec.template.spec
    const labels = deployment.spec.template.metadata.labels
    t.ok((deployment.spec.replicas ?? 1) >= 2, `${overlay}: more than one replica`)
    const pdb = objects.find((o) => o.kind === 'PodDisruptionBudget') as K8sObject & { spec: { maxUnavailable: number, selector: { matchLabels: Record<string, string> } } }
    t.same(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels, 'the PodDisruptionBudget covers the pods')
    t.equal(pdb.spec.maxUnavailable, 1)
    t.same(pod.topologySpreadConstraints?.map((c) => c.topologyKey), ['topology.kubernetes.io/zone', 'kubernetes.io/hostname'])
    for (const constraint of pod.topologySpreadConstraints ?? []) t.match(labels, constraint.labelSelector.matchLabels, 'spreads its own pods')

    const sidecar = sidecarOf(objects)
    const { requests = {}, limits = {} } = sidecar.resources ?? {}
    t.ok(mebibytes(requests.memory as string) >= MEASURED_MIB.load, `the request (${requests.memory}) covers the proxy under load (${MEASURED_MIB.load} MiB)`)
    t.ok(mebibytes(limits.memory as string) >= MEASURED_MIB.twoStreams + 32, `the limit (${limits.memory}) leaves headroom over two 1 GiB streams at once (${MEASURED_MIB.twoStreams} MiB)`)
    t.ok(mebibytes(limits.memory as string) >= MEASURED_MIB.streaming * 1.4, 'and 40 % over one')
    const env = Object.fromEntries((sidecar.env ?? []).map((e) => [e.name, e.value]))
    const drainMs = Number(env.SHUTDOWN_DELAY_MS) + Number(env.SHUTDOWN_TIMEOUT_MS)
    t.ok(pod.terminationGracePeriodSeconds * 1000 > drainMs, 'the drain fits the grace period')
    for (const w of workloads(objects)) {
      const spec = w.spec.template.spec
      t.match(spec.securityContext, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } }, `${w.metadata.name}: non-root`)
      for (const c of [...spec.initContainers ?? [], ...spec.containers]) {
        t.match(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } }, `${w.metadata.name}/${c.name}: hardened`)
        t.ok(c.resources?.limits?.memory !== undefined, `${w.metadata.name}/${c.name}: a memory limit`)
        t.notOk(c.volumeMounts?.some((m) => m.subPath !== undefined), `${c.name}: volumes mounted whole (a subPath mount never sees a rotated Secret)`)
      }
    }
    for (const container of deployment.spec.template.spec.containers) {
      t.equal(container.volumeMounts, undefined, `${container.name} does not see the credentials`)
      t.same(container.env, [{ name: 'ROECNY_PROXY_URL', value: 'http://127.0.0.1:8080' }], `${container.name} only knows the proxy's URL`)
    }
  }
})

t.test('network policies: the admin port for Prometheus only; in fleet mode Redis for the proxies\' pods only', async (t) => {
  for (const overlay of OVERLAYS) {
    const objects = assemble(join(KUBERNETES, overlay))
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy') as Array<K8sObject & { spec: { podSelector: { matchLabels: Record<string, string> }, ingress: Array<{ from: Array<{ podSelector?: { matchLabels: Record<string, string> } }>, ports: Array<{ port: string }> }> } }>
    const labels = app(objects).spec.template.metadata.labels
    const admin = policies.find((p) => p.metadata.name === 'payments-app-admin')
    t.match(labels, admin?.spec.podSelector.matchLabels, `${overlay}: the admin policy selects the app's pods`)
    t.same(admin?.spec.ingress.flatMap((rule) => rule.ports.map((p) => p.port)), ['admin'], 'only the admin port is opened')
    const redis = workloads(objects).find((w) => w.metadata.name === 'roecny-fleet-redis')
    if (redis === undefined) continue
    const guard = policies.find((p) => p.metadata.name === 'roecny-fleet-redis')
    t.same(guard?.spec.podSelector.matchLabels, redis.spec.template.metadata.labels, 'the Redis policy selects Redis')
    t.same(guard?.spec.ingress.map((rule) => rule.from.map((peer) => peer.podSelector?.matchLabels)), [[app(objects).spec.selector.matchLabels]], 'only the proxies\' pods reach it')
    t.same(guard?.spec.ingress.flatMap((rule) => rule.ports.map((p) => p.port)), ['redis'])
  }
})

t.test('the docs and the Dockerfile build the image the manifests name', async (t) => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
  t.match(dockerfile, `docker build -t ${IMAGE} `)
  for (const doc of DOCS) t.match(readFileSync(join(ROOT, doc), 'utf8'), `docker build -t ${IMAGE} `, doc)
})

interface Created { recorded: Recorded, work: string }

/** The "Run it" steps for an overlay, run as written (kubectl and docker recorded), from one doc. */
async function follow (t: Test, doc: string, overlay: string): Promise<Created> {
  const steps = runItSteps(join(ROOT, doc), overlay)
  if (steps === undefined) throw new Error(`${doc} has no "## Run it: ${overlay}" steps`)
  const work = t.testdir({})
  symlinkSync(join(ROOT, 'deploy'), join(work, 'deploy'))
  mkdirSync(join(work, 'bin'))
  const recorded = await runSteps(steps, work, { ROECNY_CLIENT_ID: 'demo-client', ROECNY_API_KEY: 'demo-key' })
  return { recorded, work }
}

/** What the containers of the objects read from Secrets and ConfigMaps: `kind name key`, and where each file lands. */
function reads (objects: K8sObject[]): { keys: Set<string>, files: Map<string, { secret: string, key: string }> } {
  const keys = new Set<string>()
  const files = new Map<string, { secret: string, key: string }>()
  for (const w of workloads(objects)) {
    const spec = w.spec.template.spec
    for (const c of [...spec.initContainers ?? [], ...spec.containers]) {
      if (c.envFrom !== undefined) throw new Error(`${c.name}: envFrom is not checked here`)
      for (const e of c.env ?? []) {
        const secret = e.valueFrom?.secretKeyRef
        const configMap = e.valueFrom?.configMapKeyRef
        if (secret !== undefined) keys.add(`Secret ${secret.name} ${secret.key}`)
        if (configMap !== undefined) keys.add(`ConfigMap ${configMap.name} ${configMap.key}`)
        if (e.name.endsWith('_FILE')) {
          const mount = c.volumeMounts?.find((m) => e.value?.startsWith(`${m.mountPath}/`))
          const volume = spec.volumes?.find((v) => v.name === mount?.name)
          const path = e.value?.slice((mount?.mountPath.length ?? 0) + 1)
          const source = volume?.secret
          // A file from a ConfigMap (the profiles file): its items are counted with the mounts below.
          if (source === undefined && volume?.configMap !== undefined) continue
          if (source === undefined) throw new Error(`${c.name}: ${e.name}=${String(e.value)} is on no Secret volume`)
          const key = source.items === undefined ? path : source.items.find((item) => item.path === path)?.key
          if (key === undefined) throw new Error(`${c.name}: ${e.name}: the volume ${volume?.name} has no ${String(path)}`)
          keys.add(`Secret ${source.secretName} ${key}`)
          files.set(e.name, { secret: source.secretName, key })
        }
      }
      for (const mount of c.volumeMounts ?? []) {
        const volume = spec.volumes?.find((v) => v.name === mount.name)
        for (const item of volume?.secret?.items ?? []) keys.add(`Secret ${volume?.secret?.secretName as string} ${item.key}`)
        for (const item of volume?.configMap?.items ?? []) keys.add(`ConfigMap ${volume?.configMap?.name as string} ${item.key}`)
      }
    }
  }
  return { keys, files }
}

t.test('reads(): env from Secrets and ConfigMaps, *_FILE on Secret volumes, mounted items', async (t) => {
  const pod = (containers: Container[], volumes: Volume[]): K8sObject[] => [{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template: { spec: { containers, volumes } } } }]
  const c = (env: EnvVar[], extra: Partial<Container> = {}): Container => ({ name: 'c', image: 'i:1', env, volumeMounts: [{ name: 'v', mountPath: '/m' }], ...extra })
  const found = reads(pod([c([{ name: 'A', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }, { name: 'B', valueFrom: { configMapKeyRef: { name: 'm', key: 'k' } } }, { name: 'C_FILE', value: '/m/p' }])], [{ name: 'v', secret: { secretName: 's', items: [{ key: 'key', path: 'p' }] } }]))
  t.same([...found.keys].sort(), ['ConfigMap m k', 'Secret s k', 'Secret s key'])
  t.same([...reads(pod([c([])], [{ name: 'v', configMap: { name: 'm', items: [{ key: 'x', path: 'x' }] } }])).keys], ['ConfigMap m x'])
  t.throws(() => reads(pod([c([{ name: 'C_FILE', value: '/elsewhere/p' }])], [])), /is on no Secret volume/)
  t.throws(() => reads(pod([c([{ name: 'C_FILE', value: '/m/q' }])], [{ name: 'v', secret: { secretName: 's', items: [{ key: 'key', path: 'p' }] } }])), /has no q/)
  t.throws(() => reads(pod([c([], { envFrom: [] })], [])), /envFrom is not checked/)
})

for (const overlay of OVERLAYS) {
  for (const doc of DOCS) {
    t.test(`${doc}, "Run it: ${overlay}": the steps create everything the containers read`, async (t) => {
      const { recorded } = await follow(t, doc, overlay)
      t.same(recorded.applied, [`deploy/kubernetes/${overlay}`], 'kubectl apply -k the overlay')
      t.same(recorded.built, [IMAGE], 'docker build tags the image the manifests name')
      const objects = assemble(join(KUBERNETES, overlay))
      const { keys } = reads(objects)
      t.ok(keys.size > 0)
      for (const needed of keys) {
        const [kind, name = '', key = ''] = needed.split(' ')
        const created = kind === 'Secret' ? recorded.secrets[name] : recorded.configMaps[name]
        t.ok(created?.[key] !== undefined && created[key] !== '', `${needed} is created by the steps`)
      }
      for (const other of recorded.other) t.match(other, [/^(kubectl)$/, /^(rollout|logs|get|describe)$/], `only looks: ${other.join(' ')}`)
    })
  }
}

t.test('the two docs give the same steps', async (t) => {
  for (const overlay of OVERLAYS) {
    const [first, second] = DOCS.map((doc) => runItSteps(join(ROOT, doc), overlay))
    t.equal(second, first, overlay)
  }
  t.equal(runItSteps(join(ROOT, DOCS[0] as string), 'no-such-overlay'), undefined)
})

/** The sidecar's environment with the created objects: ConfigMap values, Secret files written under `dir`. */
function sidecarEnv (objects: K8sObject[], recorded: Recorded, dir: string): Record<string, string> {
  const sidecar = sidecarOf(objects)
  const { files } = reads(objects)
  const env: Record<string, string> = {}
  for (const e of sidecar.env ?? []) {
    const configMap = e.valueFrom?.configMapKeyRef
    const file = files.get(e.name)
    if (configMap !== undefined) env[e.name] = recorded.configMaps[configMap.name]?.[configMap.key] as string
    else if (file !== undefined) {
      const path = join(dir, `${file.secret}-${file.key}`)
      writeFileSync(path, recorded.secrets[file.secret]?.[file.key] as string)
      env[e.name] = path
    } else env[e.name] = e.value as string
  }
  return env
}

function freePort (): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** The Redis container's command as the manifest gives it, on a free loopback port (a redis-server wrapper adds it). */
async function startManifestRedis (t: Test, container: Container, env: Record<string, string>): Promise<{ port: number, child: ChildProcess }> {
  const port = await freePort()
  // The real binary by its path: the wrapper is named redis-server and comes first on PATH.
  const real = execFileSync('sh', ['-c', `command -v ${REDIS_SERVER}`], { encoding: 'utf8' }).trim()
  const bin = t.testdir({ 'redis-server': `#!/bin/sh\nexec "${real}" "$@" --port ${port} --bind 127.0.0.1\n` })
  chmodSync(join(bin, 'redis-server'), 0o755)
  const [shell = '', ...args] = [...container.command ?? [], ...container.args ?? []]
  const child = spawn(shell, args, { env: { PATH: `${bin}:${process.env.PATH ?? ''}`, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL')
      await once(child, 'close')
    }
  })
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  for await (const line of lines) if (line.includes('Ready to accept connections')) return { port, child }
  throw new Error('redis-server exited before it was ready')
}

for (const doc of DOCS.slice(0, 1)) {
  t.test('base, as "Run it" creates it: the sidecar\'s configuration starts a proxy whose probes answer', async (t) => {
    const { recorded, work } = await follow(t, doc, 'base')
    const objects = assemble(join(KUBERNETES, 'base'))
    const env = sidecarEnv(objects, recorded, work)
    t.match(env.ROECNY_BASE_URL, /^https:\/\//, 'the example base URL is Roecny\'s kind: HTTPS')
    const mock = await startMock(t)
    const config = loadConfig({ ...env, ROECNY_BASE_URL: mock.url, ADMIN_HOST: '127.0.0.1', ADMIN_PORT: '0', PROXY_PORT: '0' })
    t.equal(config.shutdownDelayMs, 5000)
    t.equal(config.redisUrl, undefined, 'no Redis in the base')
    const proxy = await startProxy({ ...config, shutdownDelayMs: 0 }, { logger: createLogger('silent') })
    t.teardown(proxy.shutdown)
    await proxy.tokens.acquire()
    const sidecar = sidecarOf(objects)
    for (const probe of [sidecar.startupProbe, sidecar.livenessProbe, sidecar.readinessProbe]) {
      const path = probe?.httpGet?.path as string
      t.equal((await get(`${proxy.adminUrl as string}${path}`)).status, 200, path)
    }
    const metrics = await get(`${proxy.adminUrl as string}/-/metrics`)
    t.match(metrics.body, /^roecny_proxy_logins_total\{result="ok"\} 1$/m, 'Prometheus finds the metrics there too')

    // The stand-in application, with this machine's sh and wget: it calls the proxy, and stops at once on SIGTERM.
    const stand = app(objects).spec.template.spec.containers[0] as Container
    const [shell = '', ...args] = stand.command ?? []
    const child = spawn(shell, args, { env: { PATH: process.env.PATH ?? '', ROECNY_PROXY_URL: proxy.url }, stdio: ['ignore', 'pipe', 'pipe'] })
    const lines = createInterface({ input: child.stdout })
    const [answer] = await once(lines, 'line') as [string]
    t.match(answer, /"currency":"USD"/, 'the stand-in application gets Roecny\'s answer through the proxy')
    const started = Date.now()
    child.kill('SIGTERM')
    const [code] = await once(child, 'exit') as [number | null]
    t.equal(code, 0, 'SIGTERM: exit 0')
    t.ok(Date.now() - started < 5000, 'at once, not after its 10 s sleep')
  })

  t.test('fleet, as "Run it" creates it: Redis runs as its manifest says, with the password out of its arguments, and the sidecar joins it', { skip: NO_REDIS }, async (t) => {
    const { recorded, work } = await follow(t, doc, 'fleet')
    const objects = assemble(join(KUBERNETES, 'fleet'))
    const redis = workloads(objects).find((w) => w.metadata.name === 'roecny-fleet-redis') as Workload
    const container = redis.spec.template.spec.containers[0] as Container
    const password = recorded.secrets['roecny-fleet-redis']?.password as string
    t.ok(password.length >= 32, 'a generated password')
    t.notMatch(JSON.stringify([container.command, container.args]), /PASSWORD\)|requirepass"/, 'no password among the arguments')
    const redisEnv = Object.fromEntries((container.env ?? []).map((e) => [e.name, recorded.secrets[e.valueFrom?.secretKeyRef?.name as string]?.[e.valueFrom?.secretKeyRef?.key as string] ?? e.value as string]))
    const { port, child } = await startManifestRedis(t, container, redisEnv)
    const cmdline = readFileSync(`/proc/${child.pid as number}/cmdline`, 'utf8')
    t.notOk(cmdline.includes(password), 'redis-server\'s command line does not hold the password')

    const env = sidecarEnv(objects, recorded, work)
    const url = new URL(readFileSync(env.REDIS_URL_FILE as string, 'utf8'))
    const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === url.hostname) as K8sObject & { spec: { ports: Array<{ port: number }> } } | undefined
    t.ok(service !== undefined, `the URL names the Service ${url.hostname}`)
    t.equal(Number(url.port), service?.spec.ports[0]?.port)
    t.equal(decodeURIComponent(url.password), password, 'the URL carries Redis\' password')
    // The Service's name resolves in the cluster; here the same Redis is on loopback.
    writeFileSync(env.REDIS_URL_FILE as string, `redis://:${url.password}@127.0.0.1:${port}`)
    const mock = await startMock(t)
    const config = loadConfig({ ...env, ROECNY_BASE_URL: mock.url, ADMIN_HOST: '127.0.0.1', ADMIN_PORT: '0', PROXY_PORT: '0' })
    const proxy = await startProxy({ ...config, shutdownDelayMs: 0 }, { logger: createLogger('silent') })
    t.teardown(proxy.shutdown)
    await until(async () => (await json<{ fleet?: string }>(`${proxy.url}/-/status`)).body.fleet === 'joined', 'the sidecar to join the fleet\'s Redis')
    await proxy.tokens.acquire()
    t.equal((await get(`${proxy.url}/api/v1/balances/current`)).status, 200, 'a request through the fleet\'s token')
  })
}
