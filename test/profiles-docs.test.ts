// docs/profiles.md: its example's Secrets and ConfigMap, laid out as their volumes would be, load as profiles and select as the page says.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { test } from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { loadProfiles } from '../src/profiles/file.js'
import { createSelector } from '../src/profiles/select.js'
import { testConfig } from './helpers/config.js'
import { startStack } from './helpers/stack.js'
import { writeSecretVolume } from './helpers/secret-volume.js'

const run = promisify(execFile)
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

/** The page's manifests, and the proxy's volumes laid out below a temporary root as kubelet writes Secret and ConfigMap volumes. */
function layOut (root: string): { manifests: Manifest[], secrets: Map<string, Record<string, string>>, configMap: Manifest, env: Record<string, string> } {
  const yamlBlocks = blocks('yaml')
  const manifests = yamlBlocks.flatMap((block) => parseAllDocuments(block).map((doc) => doc.toJS() as Manifest)).filter((m) => m.kind !== undefined)
  const secrets = new Map(manifests.filter((m) => m.kind === 'Secret').map((m) => [m.metadata.name, m.stringData as Record<string, string>]))
  const configMap = manifests.find((m) => m.kind === 'ConfigMap') as Manifest
  const pod = parse(yamlBlocks.find((block) => block.includes('initContainers:')) as string) as Pod
  const proxy = pod.initContainers[0]!
  const env = Object.fromEntries(proxy.env.map((e) => [e.name, e.value]))

  for (const mount of proxy.volumeMounts) {
    const volume = pod.volumes.find((v) => v.name === mount.name)!
    const files = volume.configMap !== undefined
      ? manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === volume.configMap?.name)?.data
      : secrets.get(volume.secret?.secretName as string) ?? { 'client-id': 'default-client', 'api-key': 'default-key' }
    // The paths the profiles file names are the mounts' paths, below the root.
    const rooted = Object.fromEntries(Object.entries(files ?? {}).map(([key, text]) => [key, text.replaceAll('/var/run/secrets/', `${root}/var/run/secrets/`)]))
    writeSecretVolume(join(root, mount.mountPath), rooted)
  }
  return { manifests, secrets, configMap, env }
}

test('the worked example: ConfigMap and Secret volumes load, and each key selects its profile', async (t) => {
  const root = t.testdir()
  const { secrets, configMap, env } = layOut(root)
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
  const session = blocks('text')[0] as string
  const key = /^key: (\S+)$/m.exec(session)?.[1] as string
  const digest = /^digest: (\S+)$/m.exec(session)?.[1] as string
  t.equal(sha(key), digest)
  t.ok(PAGE.includes(`accessKeys: ["${digest}"]`))
})

/** The `curl` lines of "What each caller gets", by the container they run in, with the status each comment promises. */
function curlLines (): Array<{ from: string, line: string, status: number }> {
  const section = PAGE.slice(PAGE.indexOf('### 5. What each caller gets'), PAGE.indexOf('## The fields of a profile'))
  const found: Array<{ from: string, line: string, status: number }> = []
  for (const part of section.split(/^From /m).slice(1)) {
    const from = /^(the \w+ container|anywhere in the pod)/.exec(part)?.[1] as string
    let status = 0
    for (const line of part.split('\n')) {
      if (line.startsWith('# ')) status = Number(/\b([1-5]\d\d)\b/.exec(line)?.[1])
      if (line.startsWith('curl ')) found.push({ from, line, status })
    }
  }
  return found
}

test('the worked example runs as written: the proxy started on its volumes answers each curl line as the page says', async (t) => {
  const root = t.testdir()
  const { secrets, env } = layOut(root)
  const payments = secrets.get('payments-roecny') as Record<string, string>
  const stack = await startStack(t, {
    env: {
      ROECNY_CLIENT_ID_FILE: join(root, env.ROECNY_CLIENT_ID_FILE as string),
      ROECNY_API_KEY_FILE: join(root, env.ROECNY_API_KEY_FILE as string),
      PROXY_PROFILES_FILE: join(root, env.PROXY_PROFILES_FILE as string)
    },
    beforeProxy: (mock) => {
      mock.acceptedCredentials.push({ clientId: 'default-client', apiKey: 'default-key' }, { clientId: payments['client-id'] as string, apiKey: payments['api-key'] as string })
    }
  })
  const keys: Record<string, string | undefined> = {
    'the reporting container': secrets.get('reporting-proxy-key')?.key,
    'the payments container': payments.key,
    'anywhere in the pod': undefined
  }
  const lines = curlLines()
  t.same(lines.map((l) => [l.from, l.status]), [
    ['the reporting container', 200], ['the reporting container', 405], ['the payments container', 201], ['anywhere in the pod', 401]
  ])
  for (const { from, line, status } of lines) {
    const command = line.replace('curl ', 'curl -s -o /dev/null -w %{http_code} ').replaceAll('http://127.0.0.1:8080', stack.url)
    const { stdout } = await run('bash', ['-c', command], { env: { PATH: process.env.PATH, ...(keys[from] === undefined ? {} : { ROECNY_PROXY_KEY: keys[from] }) } })
    t.equal(Number(stdout), status, `${from}: ${line}`)
  }
  t.same(stack.mock.requests.map((r) => r.grant?.clientId), ['default-client', payments['client-id']], 'only what the proxy allowed reached Roecny, each with its profile\'s token')
})
