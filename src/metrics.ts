// Prometheus instruments (prom-client): requests, latency, upstream errors, logins, the token's schedule, process metrics.
import { Counter, Gauge, Histogram, Registry as PromRegistry, collectDefaultMetrics } from 'prom-client'
import type { Counter as CounterType, Metric, Registry } from 'prom-client'
import type { ProxyErrorCode } from './errors.js'
import type { LimiterStatus } from './limits/limiter.js'
import type { LoginOutcome } from './token/login.js'
import { VERSION } from './version.js'

export const METRICS_PREFIX = 'roecny_proxy_'

/** Seconds: from a cached answer on a fast network up to UPSTREAM_TIMEOUT_MS's default of 30 s. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
/** Seconds: a login takes a round trip or two; LOGIN_TIMEOUT_MS defaults to 10 s. */
export const LOGIN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** Seconds: most requests wait not at all; UPSTREAM_QUEUE_TIMEOUT_MS defaults to 10 s, a pause lasts up to 60 s. */
export const QUEUE_WAIT_BUCKETS = [0, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

const LOGIN_RESULTS: readonly LoginOutcome[] = ['ok', 'rejected', 'rate_limited', 'error']
const UPSTREAM_ERROR_CODES: readonly ProxyErrorCode[] = ['PROXY_UPSTREAM_UNREACHABLE', 'PROXY_UPSTREAM_TIMEOUT']
/** Indexed by the status code's first digit (Node answers only 100 to 599). */
const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx']

/**
 * Milliseconds between two samples of the event loop's delay (prom-client's nodejs_eventloop_lag_*).
 * Node's default of 10 wakes an idle proxy 100 times a second, about 8 ms of CPU a second on a small
 * VM; at 100 a scrape interval still holds hundreds of samples, and a stall shorter than 100 ms, if
 * missed here, shows in the request duration histogram.
 */
export const EVENT_LOOP_SAMPLE_MS = 100

/** What the token gauges read at scrape time; the TokenManager provides it. */
export interface TokenSchedule {
  /** Wall-clock ms of the current token's expiry; 0 without a token. */
  expiresAtWallMs: () => number
  /** Wall-clock ms of the current token's planned refresh; 0 without a token. */
  refreshAtWallMs: () => number
}

export interface ProxyMetrics {
  readonly registry: Registry
  /** `Content-Type` of the exposition text. */
  readonly contentType: string
  /** One answered request: the only call on the request path. `upstreamMs` < 0 when nothing reached Roecny. */
  request: (method: string, statusCode: number, durationMs: number, upstreamMs: number) => void
  /**
   * As request(), with the request's profile (`''` when it was refused before one was chosen); only
   * with MetricsOptions.profiles, whose request metrics then carry a `profile` label.
   */
  profileRequest: (profile: string, method: string, statusCode: number, durationMs: number, upstreamMs: number) => void
  /** With profiles: the token metrics of each lifecycle, labelled by the names of the profiles using it (read when scraped). */
  watchProfileTokens: (tokens: () => ReadonlyArray<{ profile: string, schedule: TokenSchedule }>) => void
  /** With profiles: a login of the lifecycle that serves these profiles (their names joined by `,`). */
  profileLogin: (profile: string, result: LoginOutcome, durationMs: number) => void
  /** An upstream failure answered with this PROXY_* code. */
  upstreamError: (code: ProxyErrorCode) => void
  /** A client went away before its answer was complete. */
  clientAbort: () => void
  /** The TokenManager's onLoginResult hook. */
  login: (result: LoginOutcome, durationMs: number) => void
  /** The token gauges read `schedule` when scraped, never per request. */
  watchToken: (schedule: TokenSchedule) => void
  /** Adds the upstream limits' instruments, read from `limits` when scraped; only called when limits are configured. */
  watchLimits: (limits: { status: () => LimiterStatus }) => void
  /** How long a forwarded request waited for the limits (0: it started at once). */
  queueWait: (waitedMs: number) => void
  /** With profiles: the limits' instruments per profile, a `profile` label on each, read from `limits` when scraped. */
  watchProfileLimits: (limits: () => Readonly<Record<string, LimiterStatus>>) => void
  /** With profiles: as queueWait, for a request of this profile. */
  profileQueueWait: (profile: string, waitedMs: number) => void
  /** Starts the reload counters of these file secrets at 0, so alerts see them before the first change. */
  watchSecrets: (names: readonly string[]) => void
  /** Adds fleet mode's instruments (SPEC §12); only called with REDIS_URL. */
  watchFleet: (fleet: { state: () => string }) => void
  /** The fleet's connection changed state (joining, joined, degraded). */
  fleetState: (state: string) => void
  /** A changed file secret was applied or ignored. */
  secretReload: (secret: string, result: 'applied' | 'ignored') => void
  /** The Prometheus text exposition of every metric. */
  render: () => Promise<string>
}

export interface MetricsOptions {
  /** Wall-clock ms now, for "seconds until the refresh" (injected for tests). */
  now?: () => number
  /** The default process metrics (CPU, memory, event loop, GC, handles); default true. */
  processMetrics?: boolean
  /** PROXY_PROFILES_FILE is set: request and token metrics carry a `profile` label; without it none does. */
  profiles?: boolean
}

interface Inc { inc: () => void }
interface Observe { observe: (value: number) => void }

/**
 * A histogram for the request path: observing is a short scan of the bounds and two additions.
 * prom-client's own observe() costs a few hundred nanoseconds (it keys buckets by their bound as
 * a property name and allocates per call); here prom-client only formats the counts when scraped.
 */
export class RequestHistogram {
  readonly name: string
  readonly help: string
  readonly bounds: readonly number[]
  /** Observations per bucket, not cumulative; the last slot is +Inf. */
  readonly counts: Float64Array
  sum = 0
  /** Labels every value carries besides `le` (a profile's histogram of a family). */
  readonly labels: Readonly<Record<string, string>>

  constructor (name: string, help: string, bounds: readonly number[], labels: Readonly<Record<string, string>> = {}) {
    this.name = name
    this.help = help
    this.bounds = bounds
    this.counts = new Float64Array(bounds.length + 1)
    this.labels = labels
  }

  observe (value: number): void {
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && value > (bounds[i] as number)) i++
    this.counts[i] = (this.counts[i] as number) + 1
    this.sum += value
  }

  /** What prom-client's Registry formats: cumulative `le` buckets, `_sum` and `_count`. */
  get (): { name: string, help: string, type: 'histogram', aggregator: 'sum', values: Array<{ metricName: string, labels: Record<string, string | number>, value: number }> } {
    const bucket = `${this.name}_bucket`
    const values = []
    let cumulative = 0
    for (let i = 0; i < this.counts.length; i++) {
      cumulative += this.counts[i] as number
      values.push({ metricName: bucket, labels: { ...this.labels, le: i < this.bounds.length ? this.bounds[i] as number : '+Inf' }, value: cumulative })
    }
    values.push({ metricName: `${this.name}_sum`, labels: { ...this.labels }, value: this.sum }, { metricName: `${this.name}_count`, labels: { ...this.labels }, value: cumulative })
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values }
  }

  reset (): void {
    this.counts.fill(0)
    this.sum = 0
  }
}

/** Request histograms by profile, exposed as one metric whose values carry a `profile` label. */
export class ProfileHistograms {
  readonly name: string
  readonly help: string
  readonly bounds: readonly number[]
  readonly byProfile = new Map<string, RequestHistogram>()

  constructor (name: string, help: string, bounds: readonly number[]) {
    this.name = name
    this.help = help
    this.bounds = bounds
  }

  /** The profile's histogram, made at its first request: the profiles file bounds the names. */
  of (profile: string): RequestHistogram {
    let histogram = this.byProfile.get(profile)
    if (histogram === undefined) {
      histogram = new RequestHistogram(this.name, this.help, this.bounds, { profile })
      this.byProfile.set(profile, histogram)
    }
    return histogram
  }

  get (): ReturnType<RequestHistogram['get']> {
    const values = [...this.byProfile.values()].flatMap((histogram) => histogram.get().values)
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values }
  }

  reset (): void {
    for (const histogram of this.byProfile.values()) histogram.reset()
  }
}

/** Each ProxyMetrics has its own registry, so several proxies in one process (tests) never share counts. */
export function createMetrics (options: MetricsOptions = {}): ProxyMetrics {
  const now = options.now ?? Date.now
  const registry = new PromRegistry()
  const registers = [registry]
  let schedule: TokenSchedule = { expiresAtWallMs: () => 0, refreshAtWallMs: () => 0 }

  // Request counts live in plain arrays, one slot per status class, one array per method seen;
  // the counter reads them when scraped.
  const requestCounts = new Map<string, Float64Array>()
  // With profiles: the same, per profile.
  const profileCounts = new Map<string, Map<string, Float64Array>>()
  const profiled = options.profiles === true
  // eslint-disable-next-line no-new -- registered with the registry; read only through it
  new Counter({
    name: `${METRICS_PREFIX}requests_total`,
    help: profiled
      ? 'Requests answered, by profile, method and status class (the proxy\'s own /-/ routes excluded)'
      : 'Requests answered, by method and status class (the proxy\'s own /-/ routes excluded)',
    labelNames: profiled ? ['profile', 'method', 'status_class'] : ['method', 'status_class'],
    registers,
    collect () {
      this.reset()
      const counted = (counts: Map<string, Float64Array>, labels: Record<string, string>): void => {
        for (const [method, byClass] of counts) {
          byClass.forEach((count, statusClass) => {
            if (count > 0) this.inc({ ...labels, method, status_class: STATUS_CLASSES[statusClass] as string }, count)
          })
        }
      }
      counted(requestCounts, {})
      for (const [profile, counts] of profileCounts) counted(counts, { profile })
    }
  })
  const durationHelp = 'Whole-request latency, from the request\'s arrival to the last byte of the answer'
  const upstreamHelp = 'Upstream latency, from sending the request to Roecny to its response headers'
  const requestDuration = new RequestHistogram(`${METRICS_PREFIX}request_duration_seconds`, durationHelp, LATENCY_BUCKETS)
  const upstreamDuration = new RequestHistogram(`${METRICS_PREFIX}upstream_duration_seconds`, upstreamHelp, LATENCY_BUCKETS)
  const profileDurations = new ProfileHistograms(`${METRICS_PREFIX}request_duration_seconds`, durationHelp, LATENCY_BUCKETS)
  const profileUpstreamDurations = new ProfileHistograms(`${METRICS_PREFIX}upstream_duration_seconds`, upstreamHelp, LATENCY_BUCKETS)
  // prom-client formats any object with its metric shape (name, help, get, reset).
  registry.registerMetric((profiled ? profileDurations : requestDuration) as unknown as Metric)
  registry.registerMetric((profiled ? profileUpstreamDurations : upstreamDuration) as unknown as Metric)
  const upstreamErrors = new Counter({
    name: `${METRICS_PREFIX}upstream_errors_total`,
    help: 'Upstream requests that failed, by the PROXY_* code answered',
    labelNames: ['code'] as const,
    registers
  })
  const clientAborts = new Counter({
    name: `${METRICS_PREFIX}client_aborts_total`,
    help: 'Requests whose client went away before its answer was complete (never counted as upstream errors)',
    registers
  })
  // With profiles, each token's metrics carry the names of the profiles that use it, so each login is counted once.
  const tokenLabels = profiled ? ['result', 'profile'] : ['result']
  const logins = new Counter({
    name: `${METRICS_PREFIX}logins_total`,
    help: 'Logins to Roecny by result: ok, rejected (401/403), rate_limited (429), error',
    labelNames: tokenLabels,
    registers
  })
  const loginDuration = new Histogram({
    name: `${METRICS_PREFIX}login_duration_seconds`,
    help: 'Login latency by result',
    labelNames: tokenLabels,
    buckets: LOGIN_BUCKETS,
    registers
  })
  let profileTokens: () => ReadonlyArray<{ profile: string, schedule: TokenSchedule }> = () => []
  /** The token gauges' values: the one token's, or each profile token's with its `profile` label. */
  function schedules (): Array<{ labels: Record<string, string>, schedule: TokenSchedule }> {
    return profiled ? profileTokens().map(({ profile, schedule }) => ({ labels: { profile }, schedule })) : [{ labels: {}, schedule }]
  }
  // eslint-disable-next-line no-new -- registered with the registry; read only through it
  new Gauge({
    name: `${METRICS_PREFIX}token_expiry_timestamp_seconds`,
    help: 'Unix time at which the current token expires; 0 without a token',
    labelNames: profiled ? ['profile'] : [],
    registers,
    collect () {
      this.reset()
      for (const { labels, schedule } of schedules()) this.set(labels, schedule.expiresAtWallMs() / 1000)
    }
  })
  // eslint-disable-next-line no-new -- as above
  new Gauge({
    name: `${METRICS_PREFIX}token_refresh_in_seconds`,
    help: 'Seconds until the current token is refreshed; 0 without a token or while the refresh is due',
    labelNames: profiled ? ['profile'] : [],
    registers,
    collect () {
      this.reset()
      for (const { labels, schedule } of schedules()) {
        const refreshAt = schedule.refreshAtWallMs()
        this.set(labels, refreshAt === 0 ? 0 : Math.max(0, (refreshAt - now()) / 1000))
      }
    }
  })
  const secretReloads = new Counter({
    name: `${METRICS_PREFIX}secret_reloads_total`,
    help: 'Changes of *_FILE secrets seen at run time, by variable and result: applied, or ignored (empty, unreadable or invalid)',
    labelNames: ['secret', 'result'] as const,
    registers
  })
  new Gauge({
    name: `${METRICS_PREFIX}build_info`,
    help: 'Always 1; the version is in the label',
    labelNames: ['version'] as const,
    registers
  }).set({ version: VERSION }, 1)
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: METRICS_PREFIX, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS })

  // Known label sets start at 0, so rate() and absent-series alerts work before the first event.
  const loginCounters = new Map<string, Inc>()
  const loginDurations = new Map<string, Observe>()
  for (const result of profiled ? [] : LOGIN_RESULTS) {
    loginCounters.set(result, logins.labels(result))
    loginDurations.set(result, loginDuration.labels(result))
    logins.labels(result).inc(0)
  }
  for (const code of UPSTREAM_ERROR_CODES) upstreamErrors.labels(code).inc(0)

  /** One answer of `statusCode` to `method`, in its status class's slot: nothing allocated after a method's first request. */
  function countStatus (counts: Map<string, Float64Array>, method: string, statusCode: number): void {
    let byClass = counts.get(method)
    if (byClass === undefined) {
      byClass = new Float64Array(STATUS_CLASSES.length)
      counts.set(method, byClass)
    }
    const statusClass = (statusCode / 100) | 0
    byClass[statusClass] = (byClass[statusClass] as number) + 1
  }

  // The request path: a map lookup, an array slot, two short bucket scans; nothing allocated after
  // a method's first request. Node's parser accepts only the methods it knows, so the map is bounded.
  function request (method: string, statusCode: number, durationMs: number, upstreamMs: number): void {
    countStatus(requestCounts, method, statusCode)
    requestDuration.observe(durationMs / 1000)
    if (upstreamMs >= 0) upstreamDuration.observe(upstreamMs / 1000)
  }

  function profileRequest (profile: string, method: string, statusCode: number, durationMs: number, upstreamMs: number): void {
    let counts = profileCounts.get(profile)
    if (counts === undefined) {
      counts = new Map()
      profileCounts.set(profile, counts)
    }
    countStatus(counts, method, statusCode)
    profileDurations.of(profile).observe(durationMs / 1000)
    if (upstreamMs >= 0) profileUpstreamDurations.of(profile).observe(upstreamMs / 1000)
  }

  function watchProfileTokens (tokens: () => ReadonlyArray<{ profile: string, schedule: TokenSchedule }>): void {
    profileTokens = tokens
    // Known label sets start at 0, as without profiles.
    for (const { profile } of tokens()) for (const result of LOGIN_RESULTS) logins.labels(result, profile).inc(0)
  }

  // A login: rare, the label object may be made each time.
  function profileLogin (profile: string, result: LoginOutcome, durationMs: number): void {
    logins.inc({ result, profile })
    loginDuration.observe({ result, profile }, durationMs / 1000)
  }

  // Failures are rare: the label object may be made each time.
  function upstreamError (code: ProxyErrorCode): void {
    upstreamErrors.inc({ code })
  }

  function clientAbort (): void {
    clientAborts.inc()
  }

  function login (result: LoginOutcome, durationMs: number): void {
    (loginCounters.get(result) as Inc).inc();
    (loginDurations.get(result) as Observe).observe(durationMs / 1000)
  }

  function watchToken (source: TokenSchedule): void {
    schedule = source
  }

  const queueWaitHistogram = new RequestHistogram(
    `${METRICS_PREFIX}upstream_queue_wait_seconds`,
    'Time forwarded requests waited for the upstream limits before starting toward Roecny (0: at once)',
    QUEUE_WAIT_BUCKETS
  )

  function queueWait (waitedMs: number): void {
    queueWaitHistogram.observe(waitedMs / 1000)
  }

  function watchLimits (limits: { status: () => LimiterStatus }): void {
    registerLimitMetrics(registry, () => [{ labels: {}, status: limits.status() }], [])
    registry.registerMetric(queueWaitHistogram as unknown as Metric)
  }

  const profileQueueWaits = new ProfileHistograms(queueWaitHistogram.name, queueWaitHistogram.help, QUEUE_WAIT_BUCKETS)

  function watchProfileLimits (limits: () => Readonly<Record<string, LimiterStatus>>): void {
    registerLimitMetrics(registry, () => Object.entries(limits()).map(([profile, status]) => ({ labels: { profile }, status })), ['profile'])
    registry.registerMetric(profileQueueWaits as unknown as Metric)
  }

  function profileQueueWait (profile: string, waitedMs: number): void {
    profileQueueWaits.of(profile).observe(waitedMs / 1000)
  }

  function watchSecrets (names: readonly string[]): void {
    for (const secret of names) {
      secretReloads.labels(secret, 'applied').inc(0)
      secretReloads.labels(secret, 'ignored').inc(0)
    }
  }

  let fleetChanges: CounterType | undefined

  function watchFleet (fleet: { state: () => string }): void {
    const registers = [registry]
    // eslint-disable-next-line no-new -- registered with the registry; read only through it
    new Gauge({
      name: `${METRICS_PREFIX}fleet_degraded`,
      help: '1 while Redis cannot be used and this replica goes on alone (own login, local limits); 0 while it is in the fleet',
      registers,
      collect () { this.set(fleet.state() === 'degraded' ? 1 : 0) }
    })
    fleetChanges = new Counter({
      name: `${METRICS_PREFIX}fleet_state_changes_total`,
      help: 'Changes of the fleet connection\'s state, by the state entered: joining, joined, degraded',
      labelNames: ['state'],
      registers
    })
    for (const state of ['joining', 'joined', 'degraded']) fleetChanges.labels(state).inc(0)
  }

  function fleetState (state: string): void {
    fleetChanges?.inc({ state })
  }

  // Rare (a rotation): the label object may be made each time.
  function secretReload (secret: string, result: 'applied' | 'ignored'): void {
    secretReloads.inc({ secret, result })
  }

  return {
    registry,
    contentType: registry.contentType,
    request,
    profileRequest,
    watchProfileTokens,
    profileLogin,
    upstreamError,
    clientAbort,
    login,
    watchToken,
    watchLimits,
    queueWait,
    watchProfileLimits,
    profileQueueWait,
    watchSecrets,
    secretReload,
    watchFleet,
    fleetState,
    render: () => registry.metrics()
  }
}

/** One limiter's status and the labels its values carry (none without profiles, `profile` with them). */
interface LabelledStatus {
  readonly labels: Record<string, string>
  readonly status: LimiterStatus
}

/** The limits' gauges and counters: every value is read from the limiters' status when scraped. */
function registerLimitMetrics (registry: Registry, read: () => LabelledStatus[], labelNames: string[]): void {
  const registers = [registry]
  /** A gauge whose values are read from each limiter's status at scrape time. */
  function gauge (name: string, help: string, value: (status: LimiterStatus) => number): void {
    // eslint-disable-next-line no-new -- registered with the registry; read only through it
    new Gauge({
      name: `${METRICS_PREFIX}${name}`,
      help,
      labelNames,
      registers,
      collect () {
        this.reset()
        for (const { labels, status } of read()) this.set(labels, value(status))
      }
    })
  }
  gauge('upstream_in_flight', 'Forwarded requests in flight to Roecny, counted against UPSTREAM_MAX_IN_FLIGHT', (status) => status.inFlight)
  gauge('upstream_queue_length', 'Forwarded requests waiting for the upstream limits', (status) => status.queued)
  /** A counter by one label, its values read from each limiter's status at scrape time. */
  function countedByLabel (name: string, help: string, label: string, counts: (status: LimiterStatus) => Record<string, number>): void {
    // eslint-disable-next-line no-new -- as above
    new Counter({
      name: `${METRICS_PREFIX}${name}`,
      help,
      labelNames: [...labelNames, label],
      registers,
      collect () {
        this.reset()
        for (const { labels, status } of read()) {
          for (const [value, count] of Object.entries(counts(status))) this.inc({ ...labels, [label]: value }, count)
        }
      }
    })
  }
  countedByLabel('rate_limited_total', 'Requests answered 429 PROXY_RATE_LIMITED, by reason: timeout (waited UPSTREAM_QUEUE_TIMEOUT_MS) or full (UPSTREAM_QUEUE_MAX waiting)', 'reason',
    function rateLimited (status) {
      const { timeout, full } = status.rateLimited
      return { timeout, full }
    })
  countedByLabel('upstream_pauses_total', 'Pauses started by a 429 from Roecny, by cause: retry_after (its Retry-After) or backoff (none given)', 'cause',
    function pauses ({ pauses }) {
      return { retry_after: pauses['retry-after'], backoff: pauses.backoff }
    })
  gauge('upstream_pause_seconds', 'Seconds left of the pause a 429 from Roecny started; 0 when requests flow', (status) => (status.pause?.remainingMs ?? 0) / 1000)
}
