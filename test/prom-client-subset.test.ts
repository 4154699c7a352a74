// The proxy loads the parts of prom-client it uses: the same metrics, without prom-client's entry point and @opentelemetry/api.
import { fileURLToPath } from 'node:url'
import * as prom from 'prom-client'
import t from 'tap'
import subset from '../src/prom-client-subset.cjs'
import { probeNode } from './helpers/node-probe.js'

const SERVER = fileURLToPath(new URL('../src/server.ts', import.meta.url))

/** Name, type and help of every metric in the registry, sorted by name. */
async function shapes (registry: prom.Registry): Promise<Array<{ name: string, type: string, help: string }>> {
  const metrics = await registry.getMetricsAsJSON()
  return metrics.map(({ name, type, help }) => ({ name, type: String(type), help })).sort((a, b) => a.name.localeCompare(b.name))
}

t.test('the subset is prom-client\'s own classes', async (t) => {
  t.equal(subset.Registry, prom.Registry)
  t.equal(subset.Counter, prom.Counter)
  t.equal(subset.Gauge, prom.Gauge)
  t.equal(subset.Histogram, prom.Histogram)
})

t.test('its default metrics are prom-client\'s: the same names, types and help', async (t) => {
  const ours = new subset.Registry()
  subset.collectDefaultMetrics({ register: ours, prefix: 'x_' })
  const theirs = new prom.Registry()
  prom.collectDefaultMetrics({ register: theirs, prefix: 'x_' })
  const expected = await shapes(theirs)
  t.ok(expected.length > 10, `prom-client registers ${expected.length} default metrics`)
  t.same(await shapes(ours), expected)
})

t.test('its CPU counters count from the process\'s start', async (t) => {
  const before = process.cpuUsage()
  const registry = new subset.Registry()
  subset.collectDefaultMetrics({ register: registry, prefix: '' })
  const value = async (name: string): Promise<number> => (await registry.getSingleMetric(name)?.get())?.values[0]?.value as number
  // The user counter's collect sets all three, as a scrape does (it reads the metrics in order).
  const user = await value('process_cpu_user_seconds_total')
  t.ok(user >= before.user / 1e6, `${user} s of user CPU include what was spent before the metrics existed`)
  t.ok(await value('process_cpu_system_seconds_total') >= before.system / 1e6)
  const total = await value('process_cpu_seconds_total')
  t.ok(total >= (before.user + before.system) / 1e6)
  await value('process_cpu_user_seconds_total')
  t.ok(await value('process_cpu_seconds_total') >= total, 'and never go back')
})

t.test('serve\'s modules load neither prom-client\'s entry point nor @opentelemetry/api', async (t) => {
  const probe = `await import(${JSON.stringify(SERVER)})
const files = Object.keys(require.cache)
const entry = files.some((file) => /node_modules[\\\\/]prom-client[\\\\/]index\\.js$/.test(file))
const otel = files.some((file) => /node_modules[\\\\/]@opentelemetry[\\\\/]/.test(file))
const metrics = files.some((file) => /node_modules[\\\\/]prom-client[\\\\/]lib[\\\\/]registry\\.js$/.test(file))
console.log(JSON.stringify({ entry, otel, metrics }))`
  t.same(JSON.parse(await probeNode(probe)), { entry: false, otel: false, metrics: true })
})
