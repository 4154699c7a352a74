// The CLI with PROXY_PROFILES_FILE: check logs in once per distinct token and prints a line per profile; a bad file exits 78.
import { createHash } from 'node:crypto'
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { EXIT_CONFIG, EXIT_FAILURE, EXIT_OK } from '../src/cli.js'
import { DEMO_API_KEY, DEMO_CLIENT_ID } from '../src/mock/roecny.js'
import { built, runMain as run, runScript } from './helpers/cli.js'
import { startMock } from './helpers/stack.js'

const KEY = 'reporting-key-0123456789abcdef'
const DIGEST = createHash('sha256').update(KEY).digest('hex')

t.test('check: one login per distinct token, a line for every profile', async (t) => {
  const mock = await startMock(t)
  const dir = t.testdir({
    'profiles.yaml': [
      'profiles:',
      '  reporting:',
      `    accessKeys: ["${DIGEST}"]`,
      '    scope: "r:awx_action:balances_view"',
      '  ops:',
      `    accessKeys: ["${'b'.repeat(64)}"]`,
      '    scope: "r:awx_action:balances_view"',
      '  local:',
      '    keyless: true',
      ''
    ].join('\n')
  })
  const env = { ROECNY_BASE_URL: mock.url, ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY, PROXY_PROFILES_FILE: join(dir, 'profiles.yaml') }
  const ok = await run(['check'], env)
  t.equal(ok.code, EXIT_OK)
  t.equal(mock.logins.length, 2, 'reporting and ops share one token')
  t.match(ok.stdout.split('\n'), [/^profile reporting: login succeeded/, /^profile ops: login succeeded/, /^profile local: login succeeded/, ''])
  for (const token of mock.issuedTokens) t.notMatch(ok.stdout, token)

  // The mock now refuses the scoped login's credentials only for a second account: payments' own files.
  writeFileSync(join(dir, 'id'), 'unknown-client')
  writeFileSync(join(dir, 'key'), 'unknown-key-value')
  chmodSync(join(dir, 'id'), 0o600)
  chmodSync(join(dir, 'key'), 0o600)
  writeFileSync(join(dir, 'profiles.yaml'), `profiles:\n  payments:\n    accessKeys: ["${DIGEST}"]\n    clientIdFile: ${join(dir, 'id')}\n    apiKeyFile: ${join(dir, 'key')}\n  local:\n    keyless: true\n`)
  const bad = await run(['check'], env)
  t.equal(bad.code, EXIT_FAILURE, 'one login failed')
  t.match(bad.stderr, /profile payments: login failed \(rejected\)/)
  t.match(bad.stdout, /^profile local: login succeeded/)
  t.notMatch(bad.stderr + bad.stdout, 'unknown-key-value')
})

t.test('a bad profiles file exits 78 through the real CLI, naming profile and field, never a key or digest', async (t) => {
  const dir = t.testdir({
    'profiles.yaml': [
      'profiles:',
      '  reporting:',
      `    accessKeys: ["${DIGEST}", "not-a-digest"]`,
      '    colour: blue',
      '  payments:',
      `    accessKeys: ["${DIGEST}"]`,
      '    allowMethods: ["G ET"]',
      '  Bad_Name:',
      '    keyless: true',
      '  nothing: {}',
      '  filed:',
      '    accessKeysFile: /nonexistent-profiles-dir/missing',
      ''
    ].join('\n')
  })
  const cli = built('cli')
  const env = { ROECNY_BASE_URL: 'http://127.0.0.1:9', ROECNY_CLIENT_ID: 'c', ROECNY_API_KEY: 'k', PROXY_ACCESS_KEY: 'an-access-key-0123456789', PROXY_PROFILES_FILE: join(dir, 'profiles.yaml') }
  for (const command of ['check', 'serve']) {
    const { code, stdout, stderr } = await runScript(t, cli, [command], env)
    t.equal(code, EXIT_CONFIG, command)
    t.equal(stdout, '')
    const lines = stderr.trim().split('\n')
    t.ok(lines.length >= 7, 'every problem listed, one line each')
    for (const line of lines) t.match(line, /^roecny-auth-proxy: configuration error: /)
    for (const expected of [/reporting.*colour/, /reporting.*accessKeys\[1\]/, /payments.*allowMethods\[0\]/, /profile #3 \(its name is not shown\): a name must be/, /nothing.*no way in/, /filed: accessKeysFile cannot be read/,
      /reporting \(accessKeys\) and profile payments \(accessKeys\) hold the same key/, /PROXY_ACCESS_KEY is set beside PROXY_PROFILES_FILE/]) {
      t.match(stderr, expected)
    }
    for (const secret of [DIGEST, DIGEST.toUpperCase(), 'an-access-key-0123456789']) t.notOk(stderr.includes(secret), 'no key or digest')
  }
})
