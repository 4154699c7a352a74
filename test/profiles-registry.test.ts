// The profiles registry: one token lifecycle per distinct tuple, kept, created and retired as descriptions are applied; handover and rights taken away.
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'tap'
import type { Test } from 'tap'
import { loadProfiles } from '../src/profiles/file.js'
import type { ProfilesDescription, TokenTuple } from '../src/profiles/file.js'
import { ProfileRegistry, rightsTakenAway } from '../src/profiles/registry.js'
import type { ManagedTokenSource } from '../src/profiles/registry.js'
import { testConfig } from './helpers/config.js'

function digest (name: string): string {
  return createHash('sha256').update(`${name}-key-0123456789abcdef`).digest('hex')
}

/** A token lifecycle the test drives by hand: `login()` gives it a token and tells the registry. */
class FakeSource implements ManagedTokenSource {
  token: string | undefined
  started = false
  stopped = false
  invalidated: string[] = []
  logins = 0
  readonly tuple: TokenTuple
  readonly #onToken: () => void

  constructor (tuple: TokenTuple, onToken: () => void) {
    this.tuple = tuple
    this.#onToken = onToken
  }

  login (): string {
    this.token = `token-${this.tuple.scope ?? 'all'}-${this.tuple.loginAs ?? ''}-${++this.logins}`
    this.#onToken()
    return this.token
  }

  start (): void { this.started = true }
  async stop (): Promise<void> {
    this.stopped = true
    this.token = undefined
  }

  current (): string | undefined { return this.token }
  async acquire (): Promise<string | undefined> { return this.token ?? 'waited-for-login' }
  invalidate (token: string): void { this.invalidated.push(token) }
  retryAfterSeconds (): number { return 7 }
  isReady (): boolean { return this.token !== undefined }
  status (): object { return { ready: this.isReady(), scope: this.tuple.scope } }
}

/** A registry over fake sources, and every source it built, in order. */
function fakeRegistry (): { registry: ProfileRegistry, built: FakeSource[] } {
  const built: FakeSource[] = []
  const registry = new ProfileRegistry((tuple, onToken) => {
    const source = new FakeSource(tuple, onToken)
    built.push(source)
    return source
  })
  return { registry, built }
}

/** A description loaded from a real file; each profile given as `name: yaml fields on one line`. */
function describe (t: Test, profiles: Record<string, string>): ProfilesDescription {
  const dir = t.testdir()
  const yaml = 'profiles:\n' + Object.entries(profiles).map(([name, fields]) =>
    `  ${name}: { accessKeys: ["${digest(name)}"], ${fields} }\n`).join('')
  writeFileSync(join(dir, 'p.yaml'), yaml)
  return loadProfiles(join(dir, 'p.yaml'), testConfig())
}

test('rights taken away: a scope word lost, a scope gained, login-as changed', async (t) => {
  const rows: Array<[before: [string | undefined, string | undefined], after: [string | undefined, string | undefined], taken: boolean, why: string]> = [
    [['a b', undefined], ['b a c', undefined], false, 'every old word kept, one added'],
    [['a b', undefined], ['a', undefined], true, 'a word lost'],
    [['a  b', undefined], [' b a ', undefined], false, 'spaces do not matter'],
    [[undefined, undefined], ['a', undefined], true, 'no scope is every right: gaining one narrows'],
    [['a', undefined], [undefined, undefined], false, 'losing the scope widens'],
    [[undefined, undefined], [undefined, undefined], false, 'nothing changed'],
    [['a', 'x'], ['a', 'y'], true, 'login-as changed'],
    [['a', undefined], ['a', 'y'], true, 'login-as set'],
    [['a', 'x'], ['a', undefined], true, 'login-as removed']
  ]
  for (const [[scope, loginAs], [nextScope, nextLoginAs], taken, why] of rows) {
    t.equal(rightsTakenAway({ scope, loginAs }, { scope: nextScope, loginAs: nextLoginAs }), taken, why)
  }
})

test('one lifecycle per distinct tuple, shared by the profiles that have the same four', async (t) => {
  const { registry, built } = fakeRegistry()
  registry.apply(describe(t, { reporting: 'scope: "r"', audit: 'scope: "r"', payments: 'scope: "w r"' }))
  t.equal(built.length, 2)
  t.ok(built.every((source) => source.started), 'each started')
  t.equal(registry.sourceFor('reporting'), built[0])
  t.equal(registry.sourceFor('audit'), built[0], 'the same four values: one lifecycle')
  t.equal(registry.sourceFor('payments'), built[1])
  t.equal(registry.sourceFor('nobody'), undefined)
  t.same(registry.tokens().map(({ tuple, source }) => [tuple.profiles, source === built[0] ? 0 : 1]), [[['reporting', 'audit'], 0], [['payments'], 1]])

  registry.apply(describe(t, { reporting: 'scope: "r"', audit: 'scope: "r"', payments: 'scope: "w r"', extra: 'maxInFlight: 3' }))
  t.equal(built.length, 3, 'only the new tuple gets a lifecycle')
  t.notOk(built[0]?.stopped || built[1]?.stopped, 'the tuples that remain keep theirs')
  t.same(registry.tokens().map(({ tuple }) => tuple.profiles), [['reporting', 'audit'], ['payments'], ['extra']])

  registry.apply(describe(t, { payments: 'scope: "w r"' }))
  await registry.settled()
  t.same(built.map((source) => source.stopped), [true, false, true], 'lifecycles nobody uses are stopped')
  t.equal(registry.sourceFor('reporting'), undefined, 'a removed profile has no source')
})

test('a change that keeps every right: the old token serves until the new login succeeds', async (t) => {
  const { registry, built } = fakeRegistry()
  registry.apply(describe(t, { payments: 'scope: "w"' }))
  const old = built[0] as FakeSource
  const oldToken = old.login()
  registry.apply(describe(t, { payments: 'scope: "w r"' }))
  const fresh = built[1] as FakeSource
  t.ok(fresh.started, 'the new login starts at once')
  const source = registry.sourceFor('payments')!
  t.equal(source.current(), oldToken, 'the old token serves meanwhile')
  t.equal(await source.acquire(), oldToken)
  t.ok(source.isReady(), 'the profile stays ready')
  t.same(source.status(), { ready: true, scope: 'w r', previousTokenServing: true }, 'and /-/status says so, as /-/readyz does')
  t.equal(source.retryAfterSeconds(), 7)
  t.notOk(old.stopped)
  old.token = undefined
  t.equal(await source.acquire(), 'waited-for-login', 'an old token past its time: requests wait for the new login')
  old.token = oldToken

  const newToken = fresh.login()
  t.equal(registry.sourceFor('payments'), fresh, 'once the new login answers, the new lifecycle alone serves')
  t.equal(source.current(), newToken, 'also through the source taken before the switch')
  t.equal(await source.acquire(), newToken)
  await registry.settled()
  t.ok(old.stopped, 'the old lifecycle is retired')
})

test('a change that takes rights away stops the old token at once', async (t) => {
  const changes: Array<[why: string, change: string]> = [['a scope word lost', 'scope: "w"'], ['login-as changed', 'scope: "w r", loginAs: "other"']]
  for (const [why, change] of changes) {
    const { registry, built } = fakeRegistry()
    registry.apply(describe(t, { payments: 'scope: "w r"' }))
    built[0]?.login()
    registry.apply(describe(t, { payments: change }))
    const source = registry.sourceFor('payments')!
    t.equal(source, built[1], why)
    t.equal(source.current(), undefined, `${why}: no token until the new login`)
    t.equal(await source.acquire(), 'waited-for-login', `${why}: requests wait for the new login`)
    await registry.settled()
    t.ok(built[0]?.stopped, `${why}: the old lifecycle is stopped`)
  }
})

test('no handover when there is nothing to hand over, or the new token is there already', async (t) => {
  const { registry, built } = fakeRegistry()
  registry.apply(describe(t, { a: 'scope: "x"', b: 'scope: "x y"' }))
  built[0]?.login()
  built[1]?.login()
  registry.apply(describe(t, { a: 'scope: "x y"', b: 'scope: "x y"' }))
  t.equal(registry.sourceFor('a'), built[1], 'its new tuple has a token already (b\'s): a moves at once')
  await registry.settled()
  t.ok(built[0]?.stopped)

  const cold = fakeRegistry()
  cold.registry.apply(describe(t, { c: 'scope: "p"' }))
  cold.registry.apply(describe(t, { c: 'scope: "p q"' }))
  t.equal(cold.registry.sourceFor('c'), cold.built[1], 'the old lifecycle had no token: nothing to keep serving')
})

test('an old lifecycle another profile still uses is not stopped', async (t) => {
  const { registry, built } = fakeRegistry()
  registry.apply(describe(t, { a: 'scope: "x"', b: 'scope: "x"' }))
  built[0]?.login()
  registry.apply(describe(t, { a: 'scope: "x y"', b: 'scope: "x"' }))
  built[1]?.login()
  await registry.settled()
  t.equal(registry.sourceFor('a'), built[1])
  t.equal(registry.sourceFor('b'), built[0])
  t.notOk(built[0]?.stopped, 'b still uses it')
})

test('during a handover: a 401 to the old token ends it; another change keeps the token that serves', async (t) => {
  const { registry, built } = fakeRegistry()
  registry.apply(describe(t, { a: 'scope: "w"' }))
  const oldToken = (built[0] as FakeSource).login()
  registry.apply(describe(t, { a: 'scope: "w r"' }))
  const first = registry.sourceFor('a')!
  registry.apply(describe(t, { a: 'scope: "w r"' }))
  t.equal(registry.sourceFor('a'), first, 'the same description again changes nothing')

  first.invalidate('some-other-token')
  t.same(built[1]?.invalidated, ['some-other-token'], 'a 401 to another token is the new lifecycle\'s business')

  registry.apply(describe(t, { a: 'scope: "w r s"' }))
  const second = registry.sourceFor('a')!
  t.equal(second.current(), oldToken, 'the old token still serves: the pending lifecycle had none')
  await registry.settled()
  t.same(built.map((source) => source.stopped), [false, true, false], 'the lifecycle that never got a token is retired')

  first.invalidate(oldToken)
  t.equal(registry.sourceFor('a'), second, 'a handover already replaced changes nothing')
  second.invalidate(oldToken)
  t.equal(registry.sourceFor('a'), built[2], 'Roecny refused the old token: the profile waits for its new lifecycle')
  t.same(built[0]?.invalidated, [], 'the old lifecycle does not log in again for it')
  await registry.settled()
  t.ok(built[0]?.stopped)
  built[2]?.login()
  t.equal(registry.sourceFor('a'), built[2])
})

test('stop() stops every lifecycle, the ones handing over too; the registry is then done', async (t) => {
  const { registry, built } = fakeRegistry()
  registry.apply(describe(t, { a: 'scope: "w"', b: 'scope: "v"' }))
  built[0]?.login()
  registry.apply(describe(t, { a: 'scope: "w r"', b: 'scope: "v"' }))
  await registry.stop()
  t.same(built.map((source) => source.stopped), [true, true, true])
  t.equal(registry.sourceFor('a'), undefined)
  t.same(registry.tokens(), [])
  t.throws(() => registry.apply(describe(t, { a: 'scope: "w"' })), /stopped/)
})

test('settled() reports a lifecycle that failed to stop', async (t) => {
  const registry = new ProfileRegistry((tuple, onToken) => Object.assign(new FakeSource(tuple, onToken), {
    stop: async () => { throw new Error('stop failed') }
  }))
  registry.apply(describe(t, { a: 'scope: "w"' }))
  registry.apply(describe(t, { b: 'scope: "w"', a: 'scope: "q"' }))
  registry.apply(describe(t, { b: 'scope: "w"' }))
  await t.rejects(registry.settled(), /stop failed/)
  await t.resolves(registry.settled(), 'a failed stop is reported once')
})
