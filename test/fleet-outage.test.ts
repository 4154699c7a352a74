// The fleet's in-flight budget through a Redis outage (SPEC §11, §12), with real replica processes under load: no
// replica ever runs more than UPSTREAM_MAX_IN_FLIGHT, the fleet no more than replicas x limit while Redis is away,
// and its exact limit, every slot used, within a lease lifetime of its return; every key in Redis expires by itself.
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import t from 'tap'
import type { Test } from 'tap'
import { request } from 'undici'
import { spawnReplica, TEST_TIMINGS } from './helpers/fleet.js'
import type { ReplicaProcess } from './helpers/fleet.js'
import { NO_REDIS, startRedis } from './helpers/redis.js'
import type { TestRedis } from './helpers/redis.js'
import { startMock } from './helpers/stack.js'
import { until } from './helpers/until.js'

const REPLICAS = 3
const LIMIT = 4
/** How long Roecny takes to answer each request: the slots turn over a few times in a lease lifetime. */
const REQUEST_MS = 300
/** Clients per replica, each sending request after request: more than the limit, so requests always wait. */
const CLIENTS = 6
/** Real time for the replicas to start, and for the fleet to notice Redis gone or back, on a loaded machine. */
const START_DEADLINE_MS = 60_000
const STATE_DEADLINE_MS = 20 * TEST_TIMINGS.leaseMs

/** Each request at Roecny as a span of time, by the replica that sent it. */
interface Span { replica: number, from: number, to: number }

/** Counts, at the mock, the requests of each replica from their arrival until their answer is done. */
function watchMock (server: Server): { spans: Span[], open: Map<ServerResponse, Span> } {
  const spans: Span[] = []
  const open = new Map<ServerResponse, Span>()
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const replica = Number(req.headers['x-replica'])
    if (!Number.isInteger(replica)) return
    const span = { replica, from: performance.now(), to: Infinity }
    open.set(res, span)
    res.once('close', () => {
      span.to = performance.now()
      open.delete(res)
      spans.push(span)
    })
  })
  return { spans, open }
}

/** The most requests at Roecny at once within [from, to), of the replica given or of the fleet. */
function peak (spans: Span[], from: number, to: number, replica?: number): number {
  const events: Array<[number, number]> = []
  for (const span of spans) {
    if (replica !== undefined && span.replica !== replica) continue
    if (span.to <= from || span.from >= to) continue
    events.push([Math.max(span.from, from), 1], [Math.min(span.to, to), -1])
  }
  // Ends before starts at the same instant: a slot handed on is not two requests at once.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  let now = 0
  let most = 0
  for (const [, step] of events) {
    now += step
    most = Math.max(most, now)
  }
  return most
}

/** The fleet's mean number of requests at Roecny over [from, to). */
function occupancy (spans: Span[], from: number, to: number): number {
  let busy = 0
  for (const span of spans) busy += Math.max(0, Math.min(span.to, to) - Math.max(span.from, from))
  return busy / (to - from)
}

async function fleetStates (replicas: ReplicaProcess[]): Promise<unknown[]> {
  return await Promise.all(replicas.map(async (replica) => (await replica.status()).fleet))
}

async function allIn (replicas: ReplicaProcess[], state: string, what: string): Promise<void> {
  await until(async () => (await fleetStates(replicas)).every((s) => s === state), what, STATE_DEADLINE_MS)
}

/** Every key the fleet holds, with its expiry: none may be without one. */
async function checkExpiries (t: Test, redis: TestRedis, when: string): Promise<string[]> {
  const ttls = await redis.ttls()
  t.ok(Object.keys(ttls).length > 0, `${when}: the fleet holds keys`)
  for (const [key, ms] of Object.entries(ttls)) t.ok(ms > 0, `${when}: ${key.replace(/^.*:/, '…:')} expires by itself (PTTL ${ms})`)
  return Object.keys(ttls).map((key) => key.replace(/^.*:/, ''))
}

t.test('per-replica and fleet in-flight peaks at Roecny across a Redis stall and a kill, and the fleet\'s exact limit after each', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const { spans, open } = watchMock(mock.server)
  const env = { UPSTREAM_MAX_IN_FLIGHT: String(LIMIT), UPSTREAM_RATE_LIMIT: '1000', UPSTREAM_QUEUE_TIMEOUT_MS: '60000' }
  const replicas = await Promise.all(Array.from({ length: REPLICAS }, async () => await spawnReplica(t, mock, redis.url, env, TEST_TIMINGS)))
  await until(async () => (await fleetStates(replicas)).every((s) => s === 'joined'), 'the replicas to join', START_DEADLINE_MS)

  const answers = new Map<number, number>()
  const run = { loading: true }
  const load = Promise.all(replicas.flatMap((replica, index) => Array.from({ length: CLIENTS }, async () => {
    while (run.loading) {
      const res = await request(`${replica.url}/api/v1/test/slow/${REQUEST_MS}`, { headers: { 'x-replica': String(index) } })
      await res.body.dump()
      answers.set(res.statusCode, (answers.get(res.statusCode) ?? 0) + 1)
    }
  })))
  const figures: Record<string, number | number[]> = {}
  const now = (): number => performance.now()
  const pause = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))
  const perReplica = (from: number, to: number): number[] => replicas.map((_r, index) => peak(spans, from, to, index))

  /** Waits a lease lifetime and a request past `joinedAt`, then measures a window of a few lease lifetimes: the fleet's exact limit, its slots used. */
  async function checkBackToLimit (joinedAt: number, name: string): Promise<void> {
    await pause(Math.max(0, joinedAt + TEST_TIMINGS.leaseMs + REQUEST_MS - now()))
    const from = now()
    await pause(2 * TEST_TIMINGS.leaseMs)
    const waiting = (await Promise.all(replicas.map(async (r) => ((await r.status()).limits as { queued: number }).queued))).reduce((a, b) => a + b)
    const to = now()
    const closed = [...spans, ...[...open.values()].map((span) => ({ ...span, to }))]
    figures[`${name}: fleet peak`] = peak(closed, from, to)
    figures[`${name}: fleet mean in flight`] = Math.round(occupancy(closed, from, to) * 100) / 100
    t.equal(peak(closed, from, to), LIMIT, `${name}: the fleet at its exact limit again`)
    t.ok(occupancy(closed, from, to) >= LIMIT / 2, `${name}: its slots used (mean ${occupancy(closed, from, to).toFixed(2)} in flight)`)
    t.ok(waiting > 0, `${name}: while requests wait (${waiting} queued)`)
  }

  // In the fleet: its limit for all.
  await until(() => spans.length >= 2 * LIMIT, 'the load to run')
  let from = now()
  await pause(2 * TEST_TIMINGS.leaseMs)
  figures['joined: fleet peak'] = peak(spans, from, now())
  t.equal(peak(spans, from, now()), LIMIT, 'joined: the fleet at its limit')
  const keysJoined = await checkExpiries(t, redis, 'joined')

  // Redis stalls: each replica goes on alone, within its own limit.
  redis.freeze()
  from = now()
  await allIn(replicas, 'degraded', 'every replica to notice the stall')
  await pause(2 * TEST_TIMINGS.leaseMs)
  redis.thaw()
  await allIn(replicas, 'joined', 'every replica to rejoin after the stall')
  let joinedAt = now()
  figures['stall: fleet peak'] = peak(spans, from, joinedAt)
  figures['stall: replica peaks'] = perReplica(from, joinedAt)
  t.ok(peak(spans, from, joinedAt) > LIMIT, 'the stall was seen: the replicas went on alone')
  t.ok(peak(spans, from, joinedAt) <= REPLICAS * LIMIT, 'the fleet never above replicas x limit')
  await checkBackToLimit(joinedAt, 'after the stall')
  const keysAfterStall = await checkExpiries(t, redis, 'after the stall')

  // Redis killed, then started again, empty.
  const killedAt = now()
  await redis.kill()
  await allIn(replicas, 'degraded', 'every replica to notice Redis gone')
  await pause(2 * TEST_TIMINGS.leaseMs)
  await redis.restart()
  await allIn(replicas, 'joined', 'every replica to rejoin the restarted Redis')
  joinedAt = now()
  figures['kill: fleet peak'] = peak(spans, killedAt, joinedAt)
  figures['kill: replica peaks'] = perReplica(killedAt, joinedAt)
  t.ok(peak(spans, killedAt, joinedAt) <= REPLICAS * LIMIT, 'the fleet never above replicas x limit')
  await checkBackToLimit(joinedAt, 'after the restart')
  const keysAfterRestart = await checkExpiries(t, redis, 'after the restart')

  run.loading = false
  await load
  const end = now()
  for (const [index, most] of perReplica(0, end).entries()) t.ok(most <= LIMIT, `replica ${index}: never above its limit at Roecny (peak ${most})`)
  t.same([...answers.keys()], [200], `every request answered 200 (${answers.get(200)} requests)`)
  t.same([...new Set([...keysJoined, ...keysAfterStall, ...keysAfterRestart])].sort(), ['bucket', 'leases', 'token'], 'the token, the leases and the bucket each checked')
  t.equal(mock.peakInFlight, peak(spans, 0, end), 'the mock saw the same peak')
  t.comment(JSON.stringify(figures))
})
