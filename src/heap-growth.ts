// How far V8 lets the heap grow past what survived its last full collection. By default it picks a
// factor from 1.1 to 4 by how fast it collects, and a proxy under load, whose live objects are few
// but whose garbage is plenty, gets the large ones: the heap grows tens of MiB above what it uses.
// 1.2 keeps the peak near the live set for the same throughput (README, Performance). V8 reads the
// flag at every full collection, so setting it here, before the dependencies load, is in time.
// Node refuses the flag in NODE_OPTIONS; `node --heap-growing-percent=N` on the command line wins.
import { setFlagsFromString } from 'node:v8'

export const HEAP_GROWING_FLAG = '--heap-growing-percent=20'

/** The flag to set, unless the command line already names it (`--heap-growing-percent=0` restores V8's own choice). */
export function heapGrowingFlag (execArgv: readonly string[]): string | undefined {
  const named = execArgv.some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg))
  return named ? undefined : HEAP_GROWING_FLAG
}

const flag = heapGrowingFlag(process.execArgv)
if (flag !== undefined) setFlagsFromString(flag)
