// PROXY_PROFILES_FILE as loaded: the description it becomes, and every problem listed at once, naming profile and field, never a key or digest.
import { createHash } from 'node:crypto'
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'tap'
import type { Test } from 'tap'
import { ConfigError } from '../src/config.js'
import { loadProfiles } from '../src/profiles/file.js'
import type { ProfilesEnvironment } from '../src/profiles/file.js'
import { verdict } from '../src/profiles/policy.js'
import { testConfig } from './helpers/config.js'

function sha (text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

const READER_KEY = 'reader-key-0123456789abcdef'
const PAYER_KEY = 'payer-key-0123456789abcdef'
const PAYER_KEY_2 = 'payer-key-second-0123456789'
const READER_DIGEST = sha(READER_KEY)

/** The environment as loadConfig() reads it, with any field overridden. */
function environment (overrides: Partial<ProfilesEnvironment> = {}): ProfilesEnvironment {
  return { ...testConfig(), ...overrides }
}

/** Writes the files into a fresh directory (secret files 0600) and returns the directory. */
function layout (t: Test, files: Record<string, string>): string {
  const dir = t.testdir()
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(dir, name), text)
    chmodSync(join(dir, name), 0o600)
  }
  return dir
}

/** The problems loadProfiles() throws for `yaml` (with `{dir}` replaced by the directory), or fails the test. */
function problemsOf (t: Test, yaml: string, files: Record<string, string> = {}, env: Partial<ProfilesEnvironment> = {}): string[] {
  const dir = layout(t, files)
  writeFileSync(join(dir, 'profiles.yaml'), yaml.replaceAll('{dir}', dir))
  try {
    loadProfiles(join(dir, 'profiles.yaml'), environment(env))
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  t.fail('the file was accepted')
  return []
}

test('the example of SPEC §13 becomes a frozen description: profiles, digests, credentials, tuples, accounts', async (t) => {
  const dir = layout(t, {
    'payments-keys': `# rotated weekly\n${PAYER_KEY}\n\n${PAYER_KEY_2}\n${PAYER_KEY}\n`,
    'payments-client-id': 'payments-client\n',
    'payments-api-key': 'payments-api-key\n'
  })
  writeFileSync(join(dir, 'profiles.yaml'), `
profiles:
  reporting:
    accessKeys: ["${READER_DIGEST.toUpperCase()}", "${READER_DIGEST}"]   # one key, written twice
    scope: "r:awx_action:balances_view"
    allowMethods: [get, HEAD]
    allowPaths: ["/api/v1/balances/**"]
  payments:
    accessKeysFile: ${dir}/payments-keys
    clientIdFile: ${dir}/payments-client-id
    apiKeyFile: ${dir}/payments-api-key
    scope: "w:awx_action:transfers_create r:awx_action:balances_view"
    maxInFlight: 10
    rateLimit: 2.5
  local-tools:
    keyless: true
    allowMethods: [GET]
    denyPaths: ["//api/v1/transfers//**/"]
  unscoped:
    accessKeys: ["${sha('unscoped-key-0123456789')}"]
    scope: ""
    loginAs: "sub-account"
    rateLimit: 5
    rateBurst: 7
`)
  const env = environment({ scope: 'r:awx_action:everything', allowPaths: ['/api/v1/**'], denyPaths: ['/api/v1/secrets'] })
  const d = loadProfiles(join(dir, 'profiles.yaml'), env)
  t.ok(Object.isFrozen(d))
  t.equal(d.file, join(dir, 'profiles.yaml'))
  t.same([...d.profiles.keys()], ['reporting', 'payments', 'local-tools', 'unscoped'], 'file order')
  const reporting = d.profiles.get('reporting')!
  const payments = d.profiles.get('payments')!
  const tools = d.profiles.get('local-tools')!
  const unscoped = d.profiles.get('unscoped')!
  t.ok(Object.isFrozen(reporting))
  t.same([...reporting.digests], [READER_DIGEST], 'lower case, a key listed twice is one key')
  t.same([...payments.digests], [sha(PAYER_KEY), sha(PAYER_KEY_2)], 'keys in clear hashed once at load, comments skipped')
  t.equal(payments.accessKeysFile, join(dir, 'payments-keys'))
  t.equal(d.keyless, tools)
  t.same([tools.keyless, reporting.keyless, tools.digests.size], [true, false, 0])

  t.same(reporting.clientId, { value: env.clientId, file: undefined, own: false }, 'the environment\'s credentials')
  t.same(payments.clientId, { value: 'payments-client', file: join(dir, 'payments-client-id'), own: true })
  t.same(payments.apiKey, { value: 'payments-api-key', file: join(dir, 'payments-api-key'), own: true })
  t.equal(reporting.scope, 'r:awx_action:balances_view')
  t.equal(tools.scope, 'r:awx_action:everything', 'no scope field: ROECNY_SCOPE')
  t.equal(unscoped.scope, undefined, 'scope "": no scope header')
  t.same([unscoped.loginAs, reporting.loginAs], ['sub-account', undefined])

  t.same([reporting.allowMethods, reporting.allowPaths, reporting.denyPaths], [['GET', 'HEAD'], ['/api/v1/balances/**'], []], 'normal forms')
  t.same(tools.denyPaths, ['/api/v1/transfers/**'], 'repeated and trailing slashes dropped, as from PROXY_DENY_PATHS')
  t.same([payments.allowMethods, payments.allowPaths], [undefined, undefined])
  t.equal(verdict(reporting.policy, 'GET', '/api/v1/balances/current'), 'allowed')
  t.equal(verdict(reporting.policy, 'POST', '/api/v1/balances/current'), 'method')
  t.equal(verdict(reporting.policy, 'GET', '/api/v1/transfers'), 'path', 'outside its own allowPaths')
  t.equal(verdict(payments.policy, 'POST', '/api/v1/transfers/create'), 'allowed')
  t.equal(verdict(payments.policy, 'GET', '/api/v1/secrets'), 'path', 'the environment\'s deny list applies to every profile')
  t.equal(verdict(payments.policy, 'GET', '/other'), 'path', 'the environment\'s allow list too')
  t.equal(verdict(tools.policy, 'GET', '/api/v1/transfers/x'), 'path', 'its own deny list')
  t.equal(reporting.policy.allowHeader, 'GET, HEAD')

  t.same([payments.maxInFlight, payments.rateLimit, payments.rateBurst], [10, 2.5, 3], 'the burst defaults to the rate, rounded up')
  t.same([unscoped.maxInFlight, unscoped.rateLimit, unscoped.rateBurst], [0, 5, 7])
  t.same([reporting.rateLimit, reporting.rateBurst], [0, 0])

  t.same(d.tuples.map((tuple) => [tuple.profiles, tuple.clientId, tuple.scope ?? null, tuple.loginAs ?? null]), [
    [['reporting'], env.clientId, 'r:awx_action:balances_view', null],
    [['payments'], 'payments-client', 'w:awx_action:transfers_create r:awx_action:balances_view', null],
    [['local-tools'], env.clientId, 'r:awx_action:everything', null],
    [['unscoped'], env.clientId, null, 'sub-account']
  ])
  t.equal(d.tuples[1]?.apiKey, 'payments-api-key')
  t.same(d.accounts.map((a) => [a.baseUrl, a.clientId, a.profiles]), [
    [env.baseUrl, env.clientId, ['reporting', 'local-tools', 'unscoped']],
    [env.baseUrl, 'payments-client', ['payments']]
  ])
  t.same(d.tuples.map((tuple) => tuple.account), [d.accounts[0]?.key, d.accounts[1]?.key, d.accounts[0]?.key, d.accounts[0]?.key])
  t.equal(reporting.tuple, d.tuples[0]?.key)
  t.equal(payments.account, d.accounts[1]?.key)
  for (const key of [...d.tuples.map((x) => x.key), ...d.accounts.map((a) => a.key)]) {
    t.match(key, /^[0-9a-f]{64}$/, 'keys are digests')
    t.notOk(key.includes(env.clientId as string))
  }
  t.ok(Object.isFrozen(d.tuples) && Object.isFrozen(d.tuples[0]) && Object.isFrozen(d.tuples[0]?.profiles))
  t.same(d.warnings, [])
})

test('profiles with the same four values share one tuple; a different API key alone makes another', async (t) => {
  const dir = layout(t, { other: 'other-api-key', same: testConfig().apiKey })
  writeFileSync(join(dir, 'p.json'), JSON.stringify({
    profiles: {
      a: { accessKeys: [sha('a-key-0123456789abcdef')], scope: 's1' },
      b: { accessKeys: [sha('b-key-0123456789abcdef')], scope: 's1', allowMethods: ['GET'] },
      c: { accessKeys: [sha('c-key-0123456789abcdef')], scope: 's1', apiKeyFile: join(dir, 'other') },
      d: { accessKeys: [sha('d-key-0123456789abcdef')], scope: 's1', apiKeyFile: join(dir, 'same') }
    }
  }))
  const d = loadProfiles(join(dir, 'p.json'), environment())
  t.same(d.tuples.map((tuple) => tuple.profiles), [['a', 'b', 'd'], ['c']], 'JSON is YAML too; the same values from a file or a variable are one tuple')
  t.same(d.accounts.map((a) => a.profiles), [['a', 'b', 'c', 'd']], 'one account: one client ID')
  t.equal(d.keyless, undefined)
})

test('every problem of §13 is listed at once, one line each, naming profile and field, never a key or digest', async (t) => {
  const shortKey = 'short-key-15chr'
  const longKey = 'long-enough-key-0123456789'
  const problems = problemsOf(t, `
extra: 1
profiles:
  Bad!Name:
    accessKeys: ["${READER_DIGEST}"]
  a:
    accessKeys: ["${READER_DIGEST}", "not-a-digest", 7]
    accessKeysFile: "{dir}/a-keys"
    what: 1
    allowMethods: [GET, FETCH]
    allowPaths: ["/api/../x", "/ok/**", "relative"]
    denyPaths: ["/x/**y"]
    maxInFlight: 0
    rateLimit: 0
    scope: "bad\\u0001scope"
  b:
    accessKeysFile: "{dir}/b-keys"
    keyless: true
    clientIdFile: "{dir}/missing"
    apiKeyFile: "{dir}"
    rateBurst: 3
  c:
    keyless: true
  d: {}
  e:
    keyless: false
    accessKeys: []
  f: "just text"
`, { 'a-keys': `${longKey}\n`, 'b-keys': `${longKey}\n${shortKey}\n` })
  t.same(problems, [
    'unknown field extra at the top level (the file holds profiles: only)',
    'profile #1 (its name is not shown): a name must be 1 to 32 of a-z 0-9 - _',
    'profile a: unknown field what',
    'profile a: accessKeys[1] must be a SHA-256 digest (64 hexadecimal characters)',
    'profile a: accessKeys[2] must be a SHA-256 digest (64 hexadecimal characters)',
    'profile a: scope must be a string without control characters or characters beyond Latin-1 ("" sends no scope header)',
    'profile a: maxInFlight must be an integer from 1 to 1000000',
    'profile a: rateLimit must be a number above 0, at most 1000000',
    'profile f: must be a map of fields',
    'profile a: allowMethods[1] must be an HTTP method such as GET',
    'profile a: allowPaths[0] must be a path starting with / (* matches within one segment, ** any number of segments)',
    'profile a: allowPaths[2] must be a path starting with / (* matches within one segment, ** any number of segments)',
    'profile a: denyPaths[0] must be a path starting with / (* matches within one segment, ** any number of segments)',
    'profile b: rateBurst is set but rateLimit is not; set rateLimit to limit the rate',
    'profile b: accessKeysFile holds a key shorter than 16 characters; keys must be random, e.g. from roecny-auth-proxy hash-key',
    'profile b: clientIdFile cannot be read (ENOENT)',
    'profile b: apiKeyFile must name a regular file',
    'profile d: no way in: give it accessKeys, accessKeysFile or keyless: true',
    'profile e: no way in: give it accessKeys, accessKeysFile or keyless: true',
    'profile #1 (its name is not shown) (accessKeys) and profile a (accessKeys) hold the same key; a key selects one profile',
    'profile a (accessKeysFile) and profile b (accessKeysFile) hold the same key; a key selects one profile',
    'profile b and profile c are keyless; at most one profile may serve callers without a key'
  ])
  const text = problems.join('\n')
  for (const secret of [READER_DIGEST, shortKey, longKey, sha(longKey), 'Bad!Name']) t.notOk(text.includes(secret), 'no key, digest or bad name in the output')
})

test('a key in two profiles is named by the fields that hold it, once per pair of profiles', async (t) => {
  const problems = problemsOf(t, `
profiles:
  one:
    accessKeys: ["${sha(PAYER_KEY)}", "${READER_DIGEST}"]
    accessKeysFile: "{dir}/keys"
  two:
    accessKeys: ["${sha(PAYER_KEY).toUpperCase()}", "${READER_DIGEST}"]
`, { keys: PAYER_KEY })
  t.same(problems, ['profile one (accessKeys and accessKeysFile) and profile two (accessKeys) hold the same key; a key selects one profile'])
})

test('problems between the profiles and the environment', async (t) => {
  const keyless = 'profiles:\n  tools:\n    keyless: true\n'
  const rows: Array<{ why: string, yaml?: string, env: Partial<ProfilesEnvironment>, problems: string[] }> = [
    {
      why: 'a keyless profile on a non-loopback PROXY_HOST',
      env: { proxyHost: '0.0.0.0' },
      problems: ['profile tools: keyless on a non-loopback PROXY_HOST lets anyone who reaches the port use its token (listen on loopback, give it keys, or set PROXY_ALLOW_UNAUTHENTICATED_REMOTE=true)']
    },
    { why: 'keyless on a Unix socket: the TCP host is not used', env: { proxyHost: '0.0.0.0', proxySocket: '/tmp/x.sock' }, problems: [] },
    { why: 'keyless on loopback', env: { proxyHost: '::1' }, problems: [] },
    {
      why: 'PROXY_ACCESS_KEY beside the profiles',
      env: { accessKeys: ['some-access-key-123456'] },
      problems: ['PROXY_ACCESS_KEY is set beside PROXY_PROFILES_FILE; profiles replace it: give its keys to a profile (accessKeys or accessKeysFile) and unset it']
    },
    {
      why: 'PROXY_ACCESS_KEY_FILE beside the profiles',
      env: { accessKeys: ['some-access-key-123456'], secretFiles: { PROXY_ACCESS_KEY_FILE: '/run/keys' } },
      problems: ['PROXY_ACCESS_KEY_FILE is set beside PROXY_PROFILES_FILE; profiles replace it: give its keys to a profile (accessKeys or accessKeysFile) and unset it']
    },
    {
      why: 'no environment credentials and a profile without its own',
      env: { clientId: undefined, apiKey: undefined },
      problems: [
        'ROECNY_CLIENT_ID or ROECNY_CLIENT_ID_FILE is required: profile tools names no clientIdFile',
        'ROECNY_API_KEY or ROECNY_API_KEY_FILE is required: profile tools names no apiKeyFile'
      ]
    },
    {
      why: 'several profiles without their own client ID',
      yaml: 'profiles:\n  a:\n    keyless: true\n  b:\n    accessKeys: ["' + READER_DIGEST + '"]\n    apiKeyFile: "{dir}/key"\n',
      env: { clientId: undefined },
      problems: ['ROECNY_CLIENT_ID or ROECNY_CLIENT_ID_FILE is required: profiles a, b name no clientIdFile']
    },
    {
      why: 'every profile names its own credential files: the environment\'s are not needed',
      yaml: 'profiles:\n  a:\n    keyless: true\n    clientIdFile: "{dir}/id"\n    apiKeyFile: "{dir}/key"\n',
      env: { clientId: undefined, apiKey: undefined },
      problems: []
    }
  ]
  for (const row of rows) {
    const dir = layout(t, { id: 'own-client', key: 'own-key' })
    writeFileSync(join(dir, 'p.yaml'), (row.yaml ?? keyless).replaceAll('{dir}', dir))
    let problems: string[] = []
    try {
      loadProfiles(join(dir, 'p.yaml'), environment(row.env))
    } catch (err) {
      problems = (err as ConfigError).problems
    }
    t.same(problems, row.problems, row.why)
  }
})

test('the file itself: unreadable, not YAML, not a map, no profiles', async (t) => {
  const rows: Array<{ why: string, text: string | undefined, problems: string[] }> = [
    { why: 'missing', text: undefined, problems: ['PROXY_PROFILES_FILE cannot be read (ENOENT)'] },
    { why: 'empty', text: '\n', problems: ['PROXY_PROFILES_FILE names an empty file'] },
    {
      why: 'broken YAML: the place, never the line',
      text: `profiles:\n  a:\n    accessKeys: ["${READER_DIGEST}"\n`,
      problems: ['PROXY_PROFILES_FILE is not valid YAML (line 3, column 84): bad indent']
    },
    {
      why: 'one profile name twice',
      text: `profiles:\n  a:\n    keyless: true\n  a:\n    accessKeys: ["${READER_DIGEST}"]\n`,
      problems: ['PROXY_PROFILES_FILE is not valid YAML (line 4, column 3): duplicate key']
    },
    { why: 'a comment only', text: '# nothing yet\n', problems: ['the file must be a map holding profiles: (a map of profile names to profiles)'] },
    { why: 'a list', text: '- a\n- b\n', problems: ['the file must be a map holding profiles: (a map of profile names to profiles)'] },
    { why: 'no profiles field', text: 'other: 1\n', problems: ['the file must be a map holding profiles: (a map of profile names to profiles)', 'unknown field other at the top level (the file holds profiles: only)'] },
    { why: 'profiles empty', text: 'profiles: {}\n', problems: ['profiles: must be a map of profile names to profiles, at least one'] },
    { why: 'profiles a list', text: 'profiles: [a]\n', problems: ['profiles: must be a map of profile names to profiles, at least one'] },
    { why: 'an odd field name is not echoed', text: `${READER_KEY}: 1\nprofiles:\n  a:\n    keyless: true\n    x-${READER_KEY}: 2\n`, problems: ['an unknown field (its name is not shown) at the top level (the file holds profiles: only)', 'profile a: an unknown field (its name is not shown)'] }
  ]
  for (const row of rows) {
    const dir = t.testdir()
    const path = join(dir, 'p.yaml')
    if (row.text !== undefined) writeFileSync(path, row.text)
    let problems: string[] = []
    try {
      loadProfiles(path, environment())
    } catch (err) {
      problems = (err as ConfigError).problems
    }
    t.same(problems, row.problems, row.why)
    t.notOk(problems.join('\n').includes(READER_DIGEST) || problems.join('\n').includes(READER_KEY), `${row.why}: nothing quoted`)
  }
})

test('what an operator should fix but may run with is a warning', async (t) => {
  const dir = layout(t, { keys: `${PAYER_KEY}\n`, id: 'client', key: 'key' })
  chmodSync(join(dir, 'keys'), 0o644)
  chmodSync(join(dir, 'key'), 0o640)
  writeFileSync(join(dir, 'p.yaml'), `
profiles:
  tools:
    keyless: true
  pay:
    accessKeysFile: ${dir}/keys
    clientIdFile: ${dir}/id
    apiKeyFile: ${dir}/key
    allowMethods: [POST]
`)
  const d = loadProfiles(join(dir, 'p.yaml'), environment({ proxyHost: '0.0.0.0', allowUnauthenticatedRemote: true, allowMethods: ['GET', 'HEAD'] }))
  t.same(d.warnings, [
    'profile pay: accessKeysFile names a file that group or others may read (mode 0644); let only the proxy\'s user read it (chmod 600)',
    'profile pay: apiKeyFile names a file that group or others may read (mode 0640); let only the proxy\'s user read it (chmod 600)',
    'PROXY_ALLOW_UNAUTHENTICATED_REMOTE=true: profile tools is keyless on a non-loopback PROXY_HOST; anyone who reaches the port uses its token',
    'profile pay: allowMethods leaves no method that PROXY_ALLOW_METHODS allows; every request of it gets 405'
  ])
  t.equal(verdict(d.profiles.get('pay')!.policy, 'POST', '/x'), 'method')
  t.equal(verdict(d.profiles.get('tools')!.policy, 'GET', '/x'), 'allowed', 'the environment\'s methods alone')
})

test('a credential file that cannot be a header value, an accessKeysFile with no key', async (t) => {
  const problems = problemsOf(t, `
profiles:
  a:
    accessKeysFile: "{dir}/keys"
    apiKeyFile: "{dir}/key"
  b:
    accessKeysFile: "{dir}/absent"
`, { keys: '# only a comment\n', key: 'bad\u0001key' })
  t.same(problems, [
    'profile a: accessKeysFile holds no key (only blank lines and # comments)',
    'profile a: apiKeyFile must not contain control characters or characters beyond Latin-1',
    'profile b: accessKeysFile cannot be read (ENOENT)'
  ])
})
