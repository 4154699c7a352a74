// Once the proxy is first ready, one collection that gives the system back what starting it left behind.
import type { Clock, TimerHandle } from './clock.js'

/**
 * The options of V8's gc extension (`globalThis.gc` under node's `--expose-gc`), as V8's
 * src/extensions/gc-extension.h lists them: a full collection, now, as V8 makes when it is out of
 * memory, which also shrinks the young generation to its smallest and returns free pages. A plain
 * `gc()` keeps the young generation at its size. V8 versions before the `flavor` option (Node 20's)
 * make a plain full collection of it; test/startup-memory.test.ts checks both against the running node.
 */
export const LAST_RESORT = { type: 'major', execution: 'sync', flavor: 'last-resort' } as const

/** V8's gc extension, called with LAST_RESORT. */
export type CollectGarbage = (options: typeof LAST_RESORT) => void

/** How often readiness is looked at until the first time it holds. */
export const READY_POLL_MS = 100

/** The gc extension when node runs with --expose-gc (package.json's config.nodeOptions: the image's and `npm start`'s NODE_OPTIONS). */
function exposedGc (): CollectGarbage | undefined {
  return (globalThis as { gc?: CollectGarbage }).gc
}

/**
 * Loading the modules and compiling the configuration's schema grow V8's young generation to its
 * largest and leave garbage that an idle proxy never allocates enough to collect: about 8 MiB resident
 * for as long as the sidecar mostly waits (docs/performance.md). Once `isReady` first holds, this runs
 * one full collection (about 45 ms, once) that returns it; not before, so the first login is never
 * delayed. Without the gc extension nothing is scheduled. `done` is told how long it took.
 */
export function releaseStartupMemory (isReady: () => boolean, clock: Clock, done: (durationMs: number) => void, gc = exposedGc()): TimerHandle | undefined {
  if (gc === undefined) return undefined
  const collect = gc
  let timer = clock.setTimer(check, READY_POLL_MS)
  function check (): void {
    if (!isReady()) {
      timer = clock.setTimer(check, READY_POLL_MS)
      return
    }
    const started = clock.monotonic()
    collect(LAST_RESORT)
    done(clock.monotonic() - started)
  }
  return { cancel: () => timer.cancel() }
}
