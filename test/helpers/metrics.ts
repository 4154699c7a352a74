// Scrapes /-/metrics over HTTP and reads samples from the Prometheus text, as Prometheus would.
import { get } from './http.js'

export interface Scrape {
  status: number
  contentType: string
  text: string
  /** Every sample line, `name{labels}` (as printed) to its value. */
  samples: Map<string, number>
  /** The value of `name` with exactly these labels (in the metric's label order); undefined when absent. */
  value: (name: string, labels?: Record<string, string>) => number | undefined
}

export function sampleKey (name: string, labels: Record<string, string> = {}): string {
  const pairs = Object.entries(labels).map(([label, value]) => `${label}="${value}"`)
  return pairs.length === 0 ? name : `${name}{${pairs.join(',')}}`
}

export async function scrape (baseUrl: string): Promise<Scrape> {
  const res = await get(`${baseUrl}/-/metrics`)
  const samples = new Map<string, number>()
  for (const line of res.body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    samples.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return {
    status: res.status,
    contentType: String(res.headers['content-type']),
    text: res.body,
    samples,
    value: (name, labels) => samples.get(sampleKey(name, labels))
  }
}
