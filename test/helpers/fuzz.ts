// The fuzz suites' shared ground: seed and case count (FUZZ_SEED, FUZZ_RUNS, set by `npm run fuzz`), the runner, and what every answer must be.
import fc from 'fast-check'
import type { Test } from 'tap'
import { PROXY_ERRORS } from '../../src/errors.js'
import { headerOf, readResponses } from './http-framing.js'
import type { ParsedResponse, ReadResponses } from './http-framing.js'

export interface FuzzSettings {
  seed: number
  runs: number
  /** Stop early after this long (default runs only), so CI stays bounded on a slow machine; the count run is printed. */
  timeLimitMs: number | undefined
}

/** A default run's time budget per suite. */
const DEFAULT_TIME_LIMIT_MS = 20_000

function integerFrom (name: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined || raw === '') return undefined
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name} must be an integer of at least ${min}, not ${JSON.stringify(raw)}`)
  return value
}

/**
 * A new seed every run unless FUZZ_SEED replays one; `defaultRuns` cases within 20 s unless FUZZ_RUNS
 * asks for a number, which then all run.
 */
export function fuzzSettings (defaultRuns: number): FuzzSettings {
  const runs = integerFrom('FUZZ_RUNS', process.env.FUZZ_RUNS, 1)
  return {
    seed: integerFrom('FUZZ_SEED', process.env.FUZZ_SEED, -(2 ** 31)) ?? Math.floor(Math.random() * 2 ** 31),
    runs: runs ?? defaultRuns,
    timeLimitMs: runs === undefined ? DEFAULT_TIME_LIMIT_MS : undefined
  }
}

/**
 * Runs `check` on `runs` cases drawn from `cases` with `seed`; prints both first, so a failing run can
 * be replayed, and returns how many cases ran.
 */
export async function runFuzz<T> (t: Test, name: string, settings: FuzzSettings, cases: fc.Arbitrary<T>, check: (c: T) => Promise<void>): Promise<number> {
  const budget = settings.timeLimitMs === undefined ? '' : `, at most ${settings.timeLimitMs / 1000} s`
  t.comment(`${name}: seed ${settings.seed}, ${settings.runs} cases${budget} (replay: npm run fuzz -- --seed ${settings.seed} --runs ${settings.runs})`)
  let ran = 0
  await fc.assert(fc.asyncProperty(cases, async (c) => {
    ran++
    await check(c)
  }), { seed: settings.seed, numRuns: settings.runs, interruptAfterTimeLimit: settings.timeLimitMs })
  return ran
}

/** A violated invariant: fast-check reports the case and its seed, and shrinks it. */
export class Violation extends Error {}

/** Reads what a client received and checks it is well-formed HTTP/1.1, with the proxy's own errors as the spec says. */
export function wellFormed (received: string, methods: readonly string[], what: string): ReadResponses {
  const read = readResponses(Buffer.from(received, 'latin1'), methods, true)
  if (read.malformed !== undefined) throw new Violation(`${what}: malformed answer (${read.malformed}): ${JSON.stringify(received.slice(0, 600))}`)
  for (const response of read.responses) checkProxyError(response, what)
  return read
}

function checkProxyError (response: ParsedResponse, what: string): void {
  const code = headerOf(response, 'x-roecny-proxy-error')
  if (code === undefined || !response.complete) return
  const known = (PROXY_ERRORS as Record<string, { status: number }>)[code]
  if (known === undefined) throw new Violation(`${what}: unknown proxy error code ${code}`)
  // Whatever a client or Roecny sends, it has an answer of its own: an internal error is a bug of the proxy.
  if (code === 'PROXY_INTERNAL_ERROR') throw new Violation(`${what}: ${code}`)
  if (known.status !== response.status) throw new Violation(`${what}: ${code} with status ${response.status}`)
  // The answer to a HEAD request has no body to check.
  if (response.framing === 'none') return
  let body: unknown
  try {
    body = JSON.parse(response.body.toString('utf8'))
  } catch {
    throw new Violation(`${what}: ${code} without a JSON body`)
  }
  if ((body as { code?: unknown }).code !== code) throw new Violation(`${what}: ${code} with the body of another code`)
}

/** Counts of what happened, printed at the end so a run shows what it covered. */
export class Tally {
  readonly #counts = new Map<string, number>()

  add (key: string): void {
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1)
  }

  toString (): string {
    return [...this.#counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([key, count]) => `${key} ${count}`).join(', ')
  }
}
