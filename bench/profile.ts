// `npm run bench -- --profile [--target floor|fastify] [--rate N]`: the proxy (or the floor, or bare Fastify) under the
// 50-connection load (or a fixed rate) with `node --cpu-prof`, then where its CPU went: by package or module, and the top functions (self time).
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { LOAD_PATH } from './common.js'
import { FASTIFY, FLOOR, startProxy, startServer, thisBuild } from './contenders.js'
import type { Contender, Placement, Upstream } from './contenders.js'
import { load, warm } from './load.js'
import { plain } from './report.js'

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface CpuProfile {
  nodes: Array<{ id: number, callFrame: CallFrame, children?: number[] }>
  samples: number[]
  timeDeltas: number[]
}

/** Sample ids and their durations from the first request served on: start-up is not what is measured. */
function servingSamples (profile: CpuProfile): Array<[number, number]> {
  const parents = parentsOf(profile)
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]))
  const serving = new Map<number, boolean>()
  function servesRequest (id: number): boolean {
    let known = serving.get(id)
    if (known === undefined) {
      const parent = parents.get(id)
      known = frames.get(id)?.functionName === 'parserOnIncoming' || (parent !== undefined && servesRequest(parent))
      serving.set(id, known)
    }
    return known
  }
  const first = profile.samples.findIndex(servesRequest)
  return profile.samples.map((id, i): [number, number] => [id, profile.timeDeltas[i] ?? 0]).slice(Math.max(first, 0))
}

function parentsOf (profile: CpuProfile): Map<number, number> {
  const parents = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id)
  return parents
}

/** Where a function lives: a package, a Node built-in module, the project's own file, or the VM itself. */
function owner (frame: CallFrame): string {
  if (frame.functionName === '(idle)') return '(idle: waiting for I/O)'
  if (frame.functionName === '(garbage collector)') return '(garbage collector)'
  if (frame.url === '') return '(native code and the VM)'
  if (frame.url.startsWith('node:')) return `node:${frame.url.slice(5).replace(/^internal\//, '').split('/')[0] ?? ''}`
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(frame.url)
  if (pkg !== null) return pkg[1] as string
  if (frame.url.startsWith('wasm://')) return 'wasm (undici\'s llhttp)'
  return frame.url.replace(/^.*\/dist\//, '')
}

function where (frame: CallFrame): string {
  return `${frame.functionName === '' ? '(anonymous)' : frame.functionName} ${frame.url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, '')}:${frame.lineNumber + 1}`
}

/**
 * Time per key as shares of the serving time: self time (the function on top of the stack), or
 * inclusive time (anywhere on the stack, counted once per sample).
 */
function shares (profile: CpuProfile, key: (frame: CallFrame) => string, inclusive = false): Array<[string, number]> {
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]))
  const parents = parentsOf(profile)
  const time = new Map<string, number>()
  let all = 0
  for (const [id, dt] of servingSamples(profile)) {
    all += dt
    const seen = new Set<string>()
    for (let node: number | undefined = id; node !== undefined; node = inclusive ? parents.get(node) : undefined) {
      const k = key(frames.get(node) as CallFrame)
      if (seen.has(k)) continue
      seen.add(k)
      time.set(k, (time.get(k) ?? 0) + dt)
    }
  }
  return [...time].map(([k, t]): [string, number] => [k, t / all]).sort((a, b) => b[1] - a[1])
}

export function summariseProfile (file: string, top: number): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const pct = (share: number): string => `${(share * 100).toFixed(1).padStart(5)} %`
  const own = (k: string): boolean => /^\S+ (src|bench)\//.test(k)
  return [
    'shares of the CPU time from the first request on (start-up left out)',
    'self time by owner:',
    ...shares(profile, owner).slice(0, 20).map(([k, s]) => `  ${pct(s)}  ${k}`),
    `top ${top} functions (self time):`,
    ...shares(profile, where).slice(0, top).map(([k, s]) => `  ${pct(s)}  ${k}`),
    'the project\'s own functions (inclusive time: with what they call):',
    ...shares(profile, where, true).filter(([k]) => own(k)).slice(0, 25).map(([k, s]) => `  ${pct(s)}  ${k}`)
  ].join('\n')
}

/** Runs the profile; the proxy writes its .cpuprofile into `dir` when it stops. */
/** What to profile: a contender (`proxy`, `fastify`, `floor`), for how long, at 50 connections or at a fixed rate. */
export interface ProfilePlan {
  target: string
  seconds: number
  /** Requests per second over 10 connections; undefined: as fast as it answers, over 50. */
  rate: number | undefined
  extraFlags: string
}

export async function profile (placement: Placement, upstream: Upstream, resultsDir: string, plan: ProfilePlan, say: (text: string) => void): Promise<void> {
  const { target, seconds, rate, extraFlags } = plan
  const flags = `--cpu-prof --cpu-prof-dir=${placement.dir} ${extraFlags}`
  const server = [FLOOR, FASTIFY].find((s) => s.name === target)
  const contender: Contender = server !== undefined
    ? await startServer(placement, upstream, server, flags)
    : await startProxy(placement, upstream, 'proxy-profiled', thisBuild(flags))
  const url = contender.url + LOAD_PATH
  await warm(url, 50, 2)
  const connections = rate === undefined ? 50 : 10
  const result = await load({ url, connections, rate, durationS: seconds, pids: contender.pids })
  await contender.stop()
  say(`${contender.name} under --cpu-prof: ${plain(result.rps)} req/s at ${connections} connections${rate === undefined ? '' : ` (a fixed ${plain(rate)} req/s)`}, ${plain(result.cpuMicrosPerRequest, 1)} CPU µs/request (profiling slows it)`)
  const file = readdirSync(placement.dir).find((f) => f.endsWith('.cpuprofile'))
  if (file === undefined) throw new Error('no .cpuprofile was written')
  // Kept for Chrome DevTools (Performance panel: load profile) or speedscope.
  mkdirSync(resultsDir, { recursive: true })
  const kept = join(resultsDir, `${target}${rate === undefined ? '' : `-${rate}`}.cpuprofile`)
  copyFileSync(join(placement.dir, file), kept)
  say(summariseProfile(kept, 40))
  say(`profile: ${kept}`)
}
