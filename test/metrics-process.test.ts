// The process metrics are prom-client's own collectDefaultMetrics, under the proxy's prefix: the same names, types, help and values.
import { collectDefaultMetrics, Registry } from 'prom-client'
import t from 'tap'
import { createMetrics, METRICS_PREFIX } from '../src/metrics.js'

/** Name, type and help of every metric of the registry whose name is not one of the proxy's own instruments. */
async function processMetrics (registry: Registry): Promise<Array<{ name: string, type: string, help: string }>> {
  const metrics = await registry.getMetricsAsJSON()
  return metrics
    .filter(({ name }) => /^roecny_proxy_(process|nodejs)_/.test(name))
    .map(({ name, type, help }) => ({ name, type: String(type), help }))
    .sort((a, b) => a.name.localeCompare(b.name))
}

t.test('every metric prom-client\'s collectDefaultMetrics registers, and no other', async (t) => {
  const theirs = new Registry()
  collectDefaultMetrics({ register: theirs, prefix: METRICS_PREFIX })
  const expected = await processMetrics(theirs)
  t.ok(expected.length > 10, `prom-client registers ${expected.length} default metrics`)
  t.same(await processMetrics(createMetrics().registry), expected)
})

t.test('the CPU counters are prom-client\'s: counted from the moment the metrics are made', async (t) => {
  const { registry } = createMetrics()
  const before = process.cpuUsage()
  const value = async (name: string): Promise<number> => (await registry.getSingleMetric(`${METRICS_PREFIX}${name}`)?.get())?.values[0]?.value as number
  const total = await value('process_cpu_seconds_total')
  // This process spent seconds of CPU (loading tap and TypeScript) before the registry existed; prom-client counts none of them.
  t.ok(total < (before.user + before.system) / 1e6, `${total} s since the metrics were made, of ${(before.user + before.system) / 1e6} s in all`)
  t.ok(total >= 0)
})
