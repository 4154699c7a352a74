// One load run with autocannon: requests/s and latency percentiles at microsecond resolution,
// with the CPU time and peak RSS of the processes under test over the same window.
import autocannon from 'autocannon'
import { cpuMicros, rssSampler, total } from './proc.js'

export interface LoadOptions {
  url: string
  connections: number
  durationS: number
  headers?: Record<string, string>
  /** Headers each connection sends in turn, one set per request; unset: `headers` on every request. */
  alternating?: ReadonlyArray<Record<string, string>>
  /** Requests per second over all connections; unset: as fast as answers come. */
  rate?: number
  /** Processes whose CPU and RSS are measured over the window; none for the direct run. */
  pids: () => readonly number[]
}

export interface LoadResult {
  /** 2xx answers per second of the window. */
  rps: number
  requests: number
  /** Answers that were not 2xx, and connection errors or timeouts: both must be 0 for a valid run. */
  non2xx: number
  errors: number
  p50Ms: number
  p99Ms: number
  /** CPU time of `pids` per 2xx answer; undefined without pids. */
  cpuMicrosPerRequest: number | undefined
  /** Highest RSS of `pids` during the window; undefined without pids. */
  peakRssBytes: number | undefined
}

/** Growable store of response times: autocannon's own histogram keeps whole milliseconds only. */
class Samples {
  private values = new Float64Array(1 << 16)
  private size = 0

  add (value: number): void {
    if (this.size === this.values.length) {
      const grown = new Float64Array(this.values.length * 2)
      grown.set(this.values)
      this.values = grown
    }
    this.values[this.size++] = value
  }

  /** Nearest-rank percentiles of what was recorded. */
  percentiles (...ps: number[]): number[] {
    const sorted = this.values.subarray(0, this.size).sort()
    return ps.map((p) => this.size === 0 ? NaN : sorted[Math.min(this.size - 1, Math.ceil(p / 100 * this.size) - 1)] as number)
  }
}

function run (options: autocannon.Options, onResponse?: (status: number, ms: number) => void): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(options, (err: unknown, result: autocannon.Result) => {
      if (err !== null && err !== undefined) reject(err instanceof Error ? err : new Error(String(err)))
      else resolve(result)
    })
    if (onResponse !== undefined) {
      instance.on('response', (_client, status, _bytes, ms) => onResponse(status, ms))
    }
  })
}

/** autocannon's requests, cycled by each connection: one per set of headers. */
function requests (alternating: LoadOptions['alternating']): autocannon.Request[] | undefined {
  return alternating?.map((headers) => ({ headers: { ...headers } }))
}

/** Load without measuring: warms the JIT, the pools and the connections. */
export async function warm (url: string, connections: number, durationS: number, headers?: Record<string, string>, alternating?: LoadOptions['alternating']): Promise<void> {
  await run({ url, connections, duration: durationS, headers, requests: requests(alternating) })
}

export async function load (options: LoadOptions): Promise<LoadResult> {
  const samples = new Samples()
  const pids = options.pids()
  const measured = pids.length > 0
  const sampler = measured ? rssSampler(options.pids) : undefined
  const cpuBefore = measured ? total(pids, cpuMicros) : 0
  const result = await run({
    url: options.url,
    connections: options.connections,
    duration: options.durationS,
    headers: options.headers,
    requests: requests(options.alternating),
    overallRate: options.rate
  }, function record (status, ms) {
    if (status >= 200 && status < 300) samples.add(ms)
  })
  const cpu = measured ? total(options.pids(), cpuMicros) - cpuBefore : 0
  const peak = sampler?.stop()
  const ok = result['2xx']
  const [p50 = NaN, p99 = NaN] = samples.percentiles(50, 99)
  return {
    rps: ok / result.duration,
    requests: ok,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    p50Ms: p50,
    p99Ms: p99,
    cpuMicrosPerRequest: measured && ok > 0 ? cpu / ok : undefined,
    peakRssBytes: peak
  }
}
