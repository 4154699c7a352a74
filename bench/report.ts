// Turning rounds into figures: medians, ratios, targets, the printed table.
import type { LoadResult } from './load.js'

export interface RoundFigures {
  /** 50 connections. */
  c50: LoadResult
  /** 1 connection. */
  c1: LoadResult
  /** A fixed 1,000 req/s over 10 connections: CPU per request at a rate below saturation. */
  fixed: LoadResult
}

export interface ContenderFigures {
  name: string
  rounds: RoundFigures[]
  idleRssBytes: number | undefined
  /** Highest RSS seen under the 50-connection load, over every round. */
  peakRssBytes: number | undefined
  /** Fresh starts: spawn to ready (the proxy: /-/readyz 200; the others: their first answer through to the upstream). */
  startToReadyRuns: number[] | undefined
  startToReadyMs: number | undefined
  median: {
    rps: number
    p50Ms: number
    p99Ms: number
    p50Ms1: number
    p99Ms1: number
    /** p50 at 1 connection minus direct's, per round, median. */
    addedP50Ms1: number | undefined
    cpuMicrosPerRequest: number | undefined
    /** At the fixed rate: comparable across runs and machines' load, and what sizing a pod needs. */
    cpuMicrosPerRequestFixed: number | undefined
    /**
     * Share of its core the process used at 50 connections (req/s × CPU per request). Below about
     * 0.9 it was not the bottleneck: the load generator's core or other work on the machine was.
     */
    coreBusy: number | undefined
  }
}

/** One contender against another: the figure of each round, and their median. */
export interface Ratio {
  perRound: number[]
  median: number
}

export interface Target {
  what: string
  goal: string
  value: string
  met: boolean
}

export function median (values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

function definedMedian (values: ReadonlyArray<number | undefined>): number | undefined {
  const defined = values.filter((v): v is number => v !== undefined)
  return defined.length === 0 ? undefined : median(defined)
}

export function summarise (name: string, rounds: RoundFigures[], idleRssBytes: number | undefined, direct: RoundFigures[] | undefined, startToReadyRuns?: number[]): ContenderFigures {
  const peaks = rounds.map((r) => r.c50.peakRssBytes).filter((v): v is number => v !== undefined)
  return {
    name,
    rounds,
    idleRssBytes,
    peakRssBytes: peaks.length === 0 ? undefined : Math.max(...peaks),
    startToReadyRuns,
    startToReadyMs: startToReadyRuns === undefined || startToReadyRuns.length === 0 ? undefined : median(startToReadyRuns),
    median: {
      rps: median(rounds.map((r) => r.c50.rps)),
      p50Ms: median(rounds.map((r) => r.c50.p50Ms)),
      p99Ms: median(rounds.map((r) => r.c50.p99Ms)),
      p50Ms1: median(rounds.map((r) => r.c1.p50Ms)),
      p99Ms1: median(rounds.map((r) => r.c1.p99Ms)),
      addedP50Ms1: direct === undefined ? undefined : median(rounds.map((r, i) => r.c1.p50Ms - (direct[i] as RoundFigures).c1.p50Ms)),
      cpuMicrosPerRequest: definedMedian(rounds.map((r) => r.c50.cpuMicrosPerRequest)),
      cpuMicrosPerRequestFixed: definedMedian(rounds.map((r) => r.fixed.cpuMicrosPerRequest)),
      coreBusy: definedMedian(rounds.map((r) => r.c50.cpuMicrosPerRequest === undefined ? undefined : r.c50.rps * r.c50.cpuMicrosPerRequest / 1e6))
    }
  }
}

/** a / b for each round, and their median. */
export function ratio (a: ContenderFigures, b: ContenderFigures): Ratio {
  const perRound = a.rounds.map((r, i) => r.c50.rps / (b.rounds[i] as RoundFigures).c50.rps)
  return { perRound, median: median(perRound) }
}

/**
 * b's CPU per request / a's, at the fixed rate, per round and median: the req/s ratio a dedicated
 * core would give when both are CPU-bound, whatever limited the measured req/s.
 */
export function cpuRatio (a: ContenderFigures, b: ContenderFigures): Ratio {
  const perRound = a.rounds.map((r, i) => ((b.rounds[i] as RoundFigures).fixed.cpuMicrosPerRequest ?? NaN) / (r.fixed.cpuMicrosPerRequest ?? NaN))
  return { perRound, median: median(perRound) }
}

/**
 * a's CPU per request / b's at the fixed rate (per round and median), and the difference in
 * microseconds: what a variant of the same proxy adds to each request, measured at the same load.
 */
export function perRequestCpu (a: ContenderFigures, b: ContenderFigures): { ratio: Ratio, addedMicros: number } {
  const perRound = a.rounds.map((r, i) => (r.fixed.cpuMicrosPerRequest ?? NaN) / ((b.rounds[i] as RoundFigures).fixed.cpuMicrosPerRequest ?? NaN))
  const added = a.rounds.map((r, i) => (r.fixed.cpuMicrosPerRequest ?? NaN) - ((b.rounds[i] as RoundFigures).fixed.cpuMicrosPerRequest ?? NaN))
  return { ratio: { perRound, median: median(perRound) }, addedMicros: median(added) }
}

/**
 * a's CPU per request / b's, at the fixed rate, per round and median: how many times b's CPU a
 * request through a costs (the "CPU per request ≤ 1.5× the floor's").
 */
export function cpuCost (a: ContenderFigures, b: ContenderFigures): Ratio {
  const perRound = a.rounds.map((r, i) => (r.fixed.cpuMicrosPerRequest ?? NaN) / ((b.rounds[i] as RoundFigures).fixed.cpuMicrosPerRequest ?? NaN))
  return { perRound, median: median(perRound) }
}

export const MiB = 1024 * 1024
/** Memory differences are given in MB (10^6 bytes); the tables print MiB, as Kubernetes quantities (Mi) do. */
export const MB = 1e6

export function mb (bytes: number | undefined): string {
  return bytes === undefined ? '—' : `${(bytes / MB).toFixed(1)} MB (${(bytes / MiB).toFixed(1)} MiB)`
}

/** A difference in MB, with its sign. */
export function signedMb (bytes: number): string {
  return Number.isNaN(bytes) ? '—' : `${bytes >= 0 ? '+' : ''}${(bytes / MB).toFixed(1)} MB`
}

/** A difference in milliseconds, with its sign. */
export function signedMs (value: number, digits = 0): string {
  return Number.isNaN(value) ? '—' : `${value >= 0 ? '+' : ''}${value.toFixed(digits)} ms`
}

export function mib (bytes: number | undefined): string {
  return bytes === undefined ? '—' : `${(bytes / MiB).toFixed(1)} MiB`
}

function ms (value: number | undefined): string {
  return value === undefined || Number.isNaN(value) ? '—' : `${value.toFixed(3)} ms`
}

function plain (value: number | undefined, digits = 0): string {
  return value === undefined || Number.isNaN(value) ? '—' : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

/** A fixed-width text table, first column left-aligned, the others right-aligned. */
export function table (header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

export function contenderTable (figures: ContenderFigures[]): string {
  return table(
    ['contender', 'req/s @50', 'core busy @50', 'p50 @50', 'p99 @50', 'p50 @1', 'p99 @1', 'added p50 @1', 'CPU µs/req @50', 'CPU µs/req @1k/s', 'idle RSS', 'peak RSS', 'start → ready'],
    figures.map((f) => [
      f.name,
      plain(f.median.rps),
      f.median.coreBusy === undefined ? '—' : `${(f.median.coreBusy * 100).toFixed(0)} %`,
      ms(f.median.p50Ms),
      ms(f.median.p99Ms),
      ms(f.median.p50Ms1),
      ms(f.median.p99Ms1),
      f.name === 'direct' ? '—' : ms(f.median.addedP50Ms1),
      plain(f.median.cpuMicrosPerRequest, 1),
      plain(f.median.cpuMicrosPerRequestFixed, 1),
      mib(f.idleRssBytes),
      mib(f.peakRssBytes),
      f.startToReadyMs === undefined ? '—' : `${f.startToReadyMs.toFixed(0)} ms`
    ])
  )
}

export function targetTable (targets: Target[], judged: boolean): string {
  return table(
    ['target', 'goal', 'measured', judged ? 'met' : 'met (not judged in --quick)'],
    targets.map((t) => [t.what, t.goal, t.value, t.met ? 'yes' : 'NO'])
  )
}

export { ms, plain }
