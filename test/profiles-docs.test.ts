// docs/profiles.md: its example's Secrets and ConfigMap, laid out as their volumes would be, load as profiles and select as the page says.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { loadProfiles } from '../src/profiles/file.js'
import { createSelector } from '../src/profiles/select.js'
import { testConfig } from './helpers/config.js'
import { writeSecretVolume } from './helpers/secret-volume.js'

const PAGE = readFileSync(new URL('../docs/profiles.md', import.meta.url), 'utf8')

/** The page's fenced blocks of one language, in order. */
function blocks (language: string): string[] {
  return [...PAGE.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((match) => match[1] as string)
}

interface Manifest { kind: string, metadata: { name: string }, stringData?: Record<string, string>, data?: Record<string, string> }
interface Mount { name: string, mountPath: string }
interface Pod {
  initContainers: Array<{ env: Array<{ name: string, value: string }>, volumeMounts: Mount[] }>
  volumes: Array<{ name: string, secret?: { secretName: string }, configMap?: { name: string } }>
}

function sha (text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

test('the worked example: ConfigMap and Secret volumes load, and each key selects its profile', async (t) => {
  const yamlBlocks = blocks('yaml')
  const manifests = yamlBlocks.flatMap((block) => parseAllDocuments(block).map((doc) => doc.toJS() as Manifest)).filter((m) => m.kind !== undefined)
  const secrets = new Map(manifests.filter((m) => m.kind === 'Secret').map((m) => [m.metadata.name, m.stringData as Record<string, string>]))
  const configMap = manifests.find((m) => m.kind === 'ConfigMap') as Manifest
  const pod = parse(yamlBlocks.find((block) => block.includes('initContainers:')) as string) as Pod
  const proxy = pod.initContainers[0]!
  const env = Object.fromEntries(proxy.env.map((e) => [e.name, e.value]))

  // Each volume of the proxy laid out below a temporary root, as kubelet writes Secret and ConfigMap volumes.
  const root = t.testdir()
  for (const mount of proxy.volumeMounts) {
    const volume = pod.volumes.find((v) => v.name === mount.name)!
    const files = volume.configMap !== undefined
      ? manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === volume.configMap?.name)?.data
      : secrets.get(volume.secret?.secretName as string) ?? { 'client-id': 'default-client', 'api-key': 'default-key' }
    // The paths the profiles file names are the mounts' paths, below the root.
    const rooted = Object.fromEntries(Object.entries(files ?? {}).map(([key, text]) => [key, text.replaceAll('/var/run/secrets/', `${root}/var/run/secrets/`)]))
    writeSecretVolume(join(root, mount.mountPath), rooted)
  }
  t.ok(configMap.data?.['profiles.yaml'], 'the ConfigMap holds the profiles file')
  for (const key of [secrets.get('reporting-proxy-key')?.key, secrets.get('payments-roecny')?.key]) {
    t.notOk(configMap.data?.['profiles.yaml']?.includes(key as string), 'and no key in clear')
  }

  const description = loadProfiles(join(root, env.PROXY_PROFILES_FILE as string), { ...testConfig(), clientId: 'default-client', apiKey: 'default-key' })
  t.same([...description.profiles.keys()], ['reporting', 'payments'])
  t.same(description.tuples.map((tuple) => [tuple.profiles, tuple.clientId, tuple.scope]), [
    [['reporting'], 'default-client', 'r:awx_action:balances_view'],
    [['payments'], 'payments-client-id', 'w:awx_action:transfers_create r:awx_action:balances_view']
  ], 'one token each: the reporting one on the default account, the payments one on its own')

  const select = createSelector(description)
  t.equal(select(secrets.get('reporting-proxy-key')?.key)?.name, 'reporting', 'the reporting Secret\'s key')
  t.equal(select(secrets.get('payments-roecny')?.key)?.name, 'payments', 'the payments Secret\'s key')
  t.equal(select(undefined), undefined, 'no key, no keyless profile: 401')
})

test('the page\'s hash-key output is a key and its digest, the one the ConfigMap lists', async (t) => {
  const session = blocks('sh')[0] as string
  const key = /^key: (\S+)$/m.exec(session)?.[1] as string
  const digest = /^digest: (\S+)$/m.exec(session)?.[1] as string
  t.equal(sha(key), digest)
  t.ok(PAGE.includes(`accessKeys: ["${digest}"]`))
})
