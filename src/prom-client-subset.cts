// The parts of prom-client the proxy uses, without prom-client's entry point: that one also loads the
// summary, the push gateway, the cluster aggregator and, through its CPU metric's exemplars,
// @opentelemetry/api (51 modules, 20 to 30 ms of every start). CommonJS, like undici-subset.cts.
import type * as Prom from 'prom-client'

type DefaultMetric = (register: Prom.Registry, config: { prefix: string, eventLoopMonitoringPrecision?: number }) => void

const Registry: typeof Prom.Registry = require('prom-client/lib/registry.js')
const Counter: typeof Prom.Counter = require('prom-client/lib/counter.js')
const Gauge: typeof Prom.Gauge = require('prom-client/lib/gauge.js')
const Histogram: typeof Prom.Histogram = require('prom-client/lib/histogram.js')

/** prom-client's default metrics but its CPU one, which is the only one that needs @opentelemetry/api. */
const DEFAULT_METRICS: DefaultMetric[] = [
  require('prom-client/lib/metrics/processStartTime.js'),
  require('prom-client/lib/metrics/osMemoryHeap.js'),
  require('prom-client/lib/metrics/processOpenFileDescriptors.js'),
  require('prom-client/lib/metrics/processMaxFileDescriptors.js'),
  require('prom-client/lib/metrics/eventLoopLag.js'),
  require('prom-client/lib/metrics/processResources.js'),
  require('prom-client/lib/metrics/processHandles.js'),
  require('prom-client/lib/metrics/processRequests.js'),
  require('prom-client/lib/metrics/heapSizeAndUsed.js'),
  require('prom-client/lib/metrics/heapSpacesSizeAndUsed.js'),
  require('prom-client/lib/metrics/version.js'),
  require('prom-client/lib/metrics/gc.js')
]

/**
 * prom-client's CPU counters under their names, counted from the process's start (prom-client counts
 * from the moment they are registered).
 */
function processCpuTotal (register: Prom.Registry, config: { prefix: string }): void {
  const registers = [register]
  let last = { user: 0, system: 0 }
  const user = new Counter({
    name: `${config.prefix}process_cpu_user_seconds_total`,
    help: 'Total user CPU time spent in seconds.',
    registers,
    // One metric's collect sets all three, as prom-client's does.
    collect () {
      const now = process.cpuUsage()
      const userMicros = now.user - last.user
      const systemMicros = now.system - last.system
      last = now
      user.inc(userMicros / 1e6)
      system.inc(systemMicros / 1e6)
      total.inc((userMicros + systemMicros) / 1e6)
    }
  })
  const system = new Counter({ name: `${config.prefix}process_cpu_system_seconds_total`, help: 'Total system CPU time spent in seconds.', registers })
  const total = new Counter({ name: `${config.prefix}process_cpu_seconds_total`, help: 'Total user and system CPU time spent in seconds.', registers })
}

/** prom-client's collectDefaultMetrics for one registry and a prefix. */
function collectDefaultMetrics (config: { register: Prom.Registry, prefix: string }): void {
  processCpuTotal(config.register, config)
  // The event-loop delay sampled every 10 ms, prom-client's default.
  const options = { prefix: config.prefix, eventLoopMonitoringPrecision: 10 }
  for (const metric of DEFAULT_METRICS) metric(config.register, options)
}

const subset = { Registry, Counter, Gauge, Histogram, collectDefaultMetrics }

export = subset
