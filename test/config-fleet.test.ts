// Fleet mode's variables (SPEC §3, §12): REDIS_URL or REDIS_URL_FILE, REDIS_CA_FILE, REDIS_KEY_PREFIX; bad values named, never echoed.
// Inputs and their outcomes are tables: one row per case, the reason in the row.
import { chmodSync } from 'node:fs'
import { join } from 'node:path'
import { rootCertificates } from 'node:tls'
import t from 'tap'
import { loadConfig } from '../src/config.js'
import { configTables } from './helpers/config-cases.js'
import type { Env } from './helpers/config-cases.js'

const BASE: Env = { ROECNY_BASE_URL: 'https://api.roecny.example', ROECNY_CLIENT_ID: 'client', ROECNY_API_KEY: 'key' }
const URL_PROBLEM = 'must be a redis:// or rediss:// URL (redis[s]://[user:password@]host[:port][/db])'
const PEM = rootCertificates[0] as string
const table = configTables(BASE)

t.test('fleet mode is off by default', async (t) => {
  table(t, [{ why: 'no Redis variable', env: {}, want: { redisUrl: undefined, redisCa: undefined, redisKeyPrefix: 'roecny-auth-proxy' } }])
})

t.test('REDIS_URL: redis:// and rediss://, with user, password and database', async (t) => {
  table(t, [
    { why: 'plain Redis on an address and port', env: { REDIS_URL: 'redis://127.0.0.1:6379' }, want: { redisUrl: 'redis://127.0.0.1:6379' } },
    { why: 'Redis over TLS, the default port', env: { REDIS_URL: 'rediss://redis.internal' }, want: { redisUrl: 'rediss://redis.internal' } },
    { why: 'a user, an escaped password and a database', env: { REDIS_URL: 'redis://user:p%40ss@redis:6380/2' }, want: { redisUrl: 'redis://user:p%40ss@redis:6380/2' } },
    { why: 'an upper-case scheme, a password alone, IPv6, a trailing slash: kept as written', env: { REDIS_URL: 'REDIS://:pw@[::1]:6379/' }, want: { redisUrl: 'REDIS://:pw@[::1]:6379/' } },
    { why: 'a prefix of its own', env: { REDIS_URL: 'redis://r', REDIS_KEY_PREFIX: 'acme:roecny' }, want: { redisKeyPrefix: 'acme:roecny' } }
  ])
})

t.test('a bad REDIS_URL is named, and its value (a password, maybe) never echoed', async (t) => {
  const problems = [`REDIS_URL ${URL_PROBLEM}`]
  table(t, [
    { why: 'another scheme', env: { REDIS_URL: 'http://redis:6379' }, problems, hides: 'hunter2' },
    { why: 'no host', env: { REDIS_URL: 'redis:' }, problems, hides: 'hunter2' },
    { why: 'a database that is no number', env: { REDIS_URL: 'redis://:hunter2@redis/not-a-db' }, problems, hides: 'hunter2' },
    { why: 'a query', env: { REDIS_URL: 'redis://:hunter2@redis?db=1' }, problems, hides: 'hunter2' },
    { why: 'a fragment', env: { REDIS_URL: 'redis://:hunter2@redis#x' }, problems, hides: 'hunter2' },
    { why: 'not a URL', env: { REDIS_URL: 'not a url hunter2' }, problems, hides: 'hunter2' }
  ])
})

t.test('REDIS_URL_FILE: read at start, and its problems name it', async (t) => {
  const dir = t.testdir({ url: 'redis://:hunter2@redis:6379\n', bad: 'https://hunter2@redis\n' })
  chmodSync(join(dir, 'url'), 0o600)
  chmodSync(join(dir, 'bad'), 0o600)
  table(t, [
    { why: 'read, trimmed, and re-read when it changes', env: { REDIS_URL_FILE: join(dir, 'url') }, want: { redisUrl: 'redis://:hunter2@redis:6379', secretFiles: { REDIS_URL_FILE: join(dir, 'url') } } },
    { why: 'a file with a URL of another scheme', env: { REDIS_URL_FILE: join(dir, 'bad') }, problems: [`REDIS_URL_FILE ${URL_PROBLEM}`] },
    { why: 'no such file', env: { REDIS_URL_FILE: join(dir, 'missing') }, problems: ['REDIS_URL_FILE cannot be read (ENOENT)'] },
    { why: 'two sources of one URL', env: { REDIS_URL: 'redis://r', REDIS_URL_FILE: join(dir, 'url') }, problems: ['REDIS_URL and REDIS_URL_FILE are both set; set only one'] }
  ])
})

t.test('REDIS_CA_FILE: PEM certificates, only with fleet mode', async (t) => {
  const dir = t.testdir({ 'ca.pem': PEM, 'junk.pem': 'not a certificate' })
  t.match(loadConfig({ ...BASE, REDIS_URL: 'rediss://redis', REDIS_CA_FILE: join(dir, 'ca.pem') }).redisCa, /^-----BEGIN CERTIFICATE-----/)
  table(t, [
    { why: 'listed for re-reading', env: { REDIS_URL: 'rediss://redis', REDIS_CA_FILE: join(dir, 'ca.pem') }, want: { secretFiles: { REDIS_CA_FILE: join(dir, 'ca.pem') } } },
    { why: 'no PEM block', env: { REDIS_URL: 'rediss://redis', REDIS_CA_FILE: join(dir, 'junk.pem') }, problems: ['REDIS_CA_FILE must hold PEM certificates (-----BEGIN CERTIFICATE-----)'] },
    { why: 'a CA without Redis to check', env: { REDIS_CA_FILE: join(dir, 'ca.pem') }, problems: ['REDIS_CA_FILE is set but neither REDIS_URL nor REDIS_URL_FILE is; set REDIS_URL for fleet mode'] }
  ])
})

t.test('REDIS_KEY_PREFIX: visible ASCII; set without fleet mode it is warned about', async (t) => {
  const PREFIX = ['REDIS_KEY_PREFIX must be 1 to 100 visible ASCII characters']
  table(t, [
    { why: 'a space is not visible', env: { REDIS_URL: 'redis://r', REDIS_KEY_PREFIX: 'two words' }, problems: PREFIX },
    { why: 'over 100 characters', env: { REDIS_URL: 'redis://r', REDIS_KEY_PREFIX: 'x'.repeat(101) }, problems: PREFIX },
    { why: 'a prefix without fleet mode does nothing', env: { REDIS_KEY_PREFIX: 'acme' }, warnings: ['REDIS_KEY_PREFIX is not used: neither REDIS_URL nor REDIS_URL_FILE is set'] }
  ])
})
