// A rediss:// Redis with its own CA (SPEC §3, §12): verified against the system roots plus REDIS_CA_FILE, never insecure;
// a rotated REDIS_CA_FILE applies to the next connection.
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { startReplica } from './helpers/fleet.js'
import type { Replica } from './helpers/fleet.js'
import { NO_REDIS, startRedis } from './helpers/redis.js'
import type { RedisTls } from './helpers/redis.js'
import { startMock } from './helpers/stack.js'
import { until } from './helpers/until.js'

const HAS_OPENSSL = spawnSync('openssl', ['version']).status === 0
const SKIP = NO_REDIS !== false ? NO_REDIS : HAS_OPENSSL ? false : 'openssl is not installed: these tests need it to make their certificates'

interface Certificates extends RedisTls {
  readonly dir: string
  /** A CA that issued nothing Redis presents. */
  readonly otherCaFile: string
}

/** A throw-away CA, a certificate for 127.0.0.1 issued by it, and an unrelated CA, made with openssl in the test's directory. */
function makeCertificates (t: Test): Certificates {
  const dir = t.testdir()
  function openssl (...args: string[]): void {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  }
  writeFileSync(join(dir, 'redis.ext'), 'subjectAltName=IP:127.0.0.1\n')
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=redis-test-ca')
  openssl('req', '-x509', ...ec, '-keyout', 'other.key', '-out', 'other.pem', '-days', '2', '-subj', '/CN=some-other-ca')
  openssl('req', ...ec, '-keyout', 'redis.key', '-out', 'redis.csr', '-subj', '/CN=127.0.0.1')
  openssl('x509', '-req', '-in', 'redis.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(Date.now()),
    '-days', '2', '-out', 'redis.pem', '-extfile', join(dir, 'redis.ext'))
  return { dir, caFile: join(dir, 'ca.pem'), certFile: join(dir, 'redis.pem'), keyFile: join(dir, 'redis.key'), otherCaFile: join(dir, 'other.pem') }
}

async function fleetState (replica: Replica): Promise<unknown> {
  return (await replica.status()).fleet
}

t.test('with REDIS_CA_FILE the replica joins a TLS Redis and stores the fleet\'s token there', { skip: SKIP }, async (t) => {
  const certs = makeCertificates(t)
  const redis = await startRedis(t, { tls: certs, password: 'tls-pw-5521' })
  t.match(redis.url, /^rediss:\/\//)
  const mock = await startMock(t)
  const a = await startReplica(t, mock, redis.url, { REDIS_CA_FILE: certs.caFile })
  await until(() => a.proxy.tokens.isReady(), 'the first token')
  t.equal(await fleetState(a), 'joined')
  const b = await startReplica(t, mock, redis.url, { REDIS_CA_FILE: certs.caFile })
  await until(() => b.proxy.tokens.isReady(), 'the adopted token')
  t.equal(mock.logins.length, 1, 'one login through the TLS Redis')
  t.ok(Object.keys(await redis.dump()).some((key) => key.endsWith(':token')))
})

t.test('without the CA the replica refuses the TLS Redis: degraded, never insecure', { skip: SKIP }, async (t) => {
  const certs = makeCertificates(t)
  const redis = await startRedis(t, { tls: certs, password: 'tls-pw-7730' })
  const mock = await startMock(t)
  const replica = await startReplica(t, mock, redis.url)
  await until(() => replica.proxy.tokens.isReady(), 'a token of its own')
  t.equal(await fleetState(replica), 'degraded')
  const warning = replica.logs.records().find((record) => record.component === 'fleet' && record.level === 'warn') as { reason: string }
  t.match(warning.reason, /certificate/i, 'the warning says why: the certificate')
  t.notMatch(replica.logs.lines.join('\n'), 'tls-pw-7730', 'no log line holds the password')
  t.same(Object.keys(await redis.dump()), [], 'nothing was stored')
})

t.test('a rotated REDIS_CA_FILE applies at once: from the wrong CA to the right one, the replica joins', { skip: SKIP }, async (t) => {
  const certs = makeCertificates(t)
  const redis = await startRedis(t, { tls: certs })
  const mock = await startMock(t)
  const caFile = join(certs.dir, 'redis-ca.pem')
  copyFileSync(certs.otherCaFile, caFile)
  const replica = await startReplica(t, mock, redis.url, { REDIS_CA_FILE: caFile, SECRETS_POLL_MS: '0' })
  await until(() => replica.proxy.tokens.isReady(), 'a token of its own')
  await until(async () => await fleetState(replica) === 'degraded', 'the wrong CA to be refused')
  copyFileSync(certs.caFile, caFile)
  replica.proxy.reloadSecrets()
  await until(async () => await fleetState(replica) === 'joined', 'the replica to join with the right CA')
  t.equal((await replica.status() as { secrets: Record<string, { generation: number }> }).secrets.REDIS_CA_FILE?.generation, 2)
})
