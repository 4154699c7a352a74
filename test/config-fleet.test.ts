// Fleet mode's variables (SPEC §3, §12): REDIS_URL or REDIS_URL_FILE, REDIS_CA_FILE, REDIS_KEY_PREFIX; bad values named, never echoed.
import { chmodSync } from 'node:fs'
import { join } from 'node:path'
import { rootCertificates } from 'node:tls'
import t from 'tap'
import { loadConfig } from '../src/config.js'
import type { ConfigError } from '../src/config.js'

type Env = Record<string, string | undefined>

const BASE: Env = { ROECNY_BASE_URL: 'https://api.roecny.example', ROECNY_CLIENT_ID: 'client', ROECNY_API_KEY: 'key' }
const URL_PROBLEM = 'must be a redis:// or rediss:// URL (redis[s]://[user:password@]host[:port][/db])'
const PEM = rootCertificates[0] as string

function problemsOf (env: Env): string[] {
  try {
    loadConfig(env)
  } catch (err) {
    return (err as ConfigError).problems
  }
  throw new Error('configuration was accepted')
}

t.test('fleet mode is off by default', async (t) => {
  const config = loadConfig(BASE)
  t.equal(config.redisUrl, undefined)
  t.equal(config.redisCa, undefined)
  t.equal(config.redisKeyPrefix, 'roecny-auth-proxy')
})

t.test('REDIS_URL: redis:// and rediss://, with user, password and database', async (t) => {
  for (const url of ['redis://127.0.0.1:6379', 'rediss://redis.internal', 'redis://user:p%40ss@redis:6380/2', 'REDIS://:pw@[::1]:6379/']) {
    t.equal(loadConfig({ ...BASE, REDIS_URL: url }).redisUrl, url, url)
  }
  t.equal(loadConfig({ ...BASE, REDIS_URL: 'redis://r', REDIS_KEY_PREFIX: 'acme:roecny' }).redisKeyPrefix, 'acme:roecny')
})

t.test('a bad REDIS_URL is named, and its value (a password, maybe) never echoed', async (t) => {
  for (const url of ['http://redis:6379', 'redis:', 'redis://:hunter2@redis/not-a-db', 'redis://:hunter2@redis?db=1', 'redis://:hunter2@redis#x', 'not a url hunter2']) {
    const problems = problemsOf({ ...BASE, REDIS_URL: url })
    t.same(problems, [`REDIS_URL ${URL_PROBLEM}`], url)
    t.notMatch(problems.join(' '), 'hunter2')
  }
})

t.test('REDIS_URL_FILE: read at start, and its problems name it', async (t) => {
  const dir = t.testdir({ url: 'redis://:hunter2@redis:6379\n', bad: 'https://hunter2@redis\n' })
  chmodSync(join(dir, 'url'), 0o600)
  chmodSync(join(dir, 'bad'), 0o600)
  const config = loadConfig({ ...BASE, REDIS_URL_FILE: join(dir, 'url') })
  t.equal(config.redisUrl, 'redis://:hunter2@redis:6379')
  t.same(config.secretFiles, { REDIS_URL_FILE: join(dir, 'url') }, 're-read when it changes')
  t.same(problemsOf({ ...BASE, REDIS_URL_FILE: join(dir, 'bad') }), [`REDIS_URL_FILE ${URL_PROBLEM}`])
  t.same(problemsOf({ ...BASE, REDIS_URL_FILE: join(dir, 'missing') }), ['REDIS_URL_FILE cannot be read (ENOENT)'])
  t.same(problemsOf({ ...BASE, REDIS_URL: 'redis://r', REDIS_URL_FILE: join(dir, 'url') }), ['REDIS_URL and REDIS_URL_FILE are both set; set only one'])
})

t.test('REDIS_CA_FILE: PEM certificates, only with fleet mode', async (t) => {
  const dir = t.testdir({ 'ca.pem': PEM, 'junk.pem': 'not a certificate' })
  const config = loadConfig({ ...BASE, REDIS_URL: 'rediss://redis', REDIS_CA_FILE: join(dir, 'ca.pem') })
  t.match(config.redisCa, /^-----BEGIN CERTIFICATE-----/)
  t.same(config.secretFiles, { REDIS_CA_FILE: join(dir, 'ca.pem') })
  t.same(problemsOf({ ...BASE, REDIS_URL: 'rediss://redis', REDIS_CA_FILE: join(dir, 'junk.pem') }), ['REDIS_CA_FILE must hold PEM certificates (-----BEGIN CERTIFICATE-----)'])
  t.same(problemsOf({ ...BASE, REDIS_CA_FILE: join(dir, 'ca.pem') }), ['REDIS_CA_FILE is set but neither REDIS_URL nor REDIS_URL_FILE is; set REDIS_URL for fleet mode'])
})

t.test('REDIS_KEY_PREFIX: visible ASCII; set without fleet mode it is warned about', async (t) => {
  t.same(problemsOf({ ...BASE, REDIS_URL: 'redis://r', REDIS_KEY_PREFIX: 'two words' }), ['REDIS_KEY_PREFIX must be 1 to 100 visible ASCII characters'])
  t.same(problemsOf({ ...BASE, REDIS_URL: 'redis://r', REDIS_KEY_PREFIX: 'x'.repeat(101) }), ['REDIS_KEY_PREFIX must be 1 to 100 visible ASCII characters'])
  t.same(loadConfig({ ...BASE, REDIS_KEY_PREFIX: 'acme' }).warnings, ['REDIS_KEY_PREFIX is not used: neither REDIS_URL nor REDIS_URL_FILE is set'])
})
