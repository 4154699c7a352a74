// Process signals and fatal errors, in one place: the first SIGTERM or SIGINT stops gracefully, a second one ends at once;
// SIGHUP re-reads; an uncaught error ends the process with one fatal log line.
import type { Logger } from 'pino'

const SIGNALS = ['SIGTERM', 'SIGINT'] as const

/**
 * Runs `stop` on the first SIGTERM or SIGINT and resolves with the exit code: 0 once it has
 * finished, 1 if it failed, and 1 at once on a second signal, whatever is still draining. The
 * listeners are removed once the code is known, so a later signal has Node's default effect.
 * With `reload`, SIGHUP runs it instead of ending the process (its default) until then.
 */
export function stopOnSignals (stop: () => Promise<void>, log: Logger, reload?: () => void): Promise<number> {
  return new Promise((resolve) => {
    let signalled = false
    function settle (code: number): void {
      for (const name of SIGNALS) process.off(name, onSignal)
      if (reload !== undefined) process.off('SIGHUP', reload)
      resolve(code)
    }
    function onSignal (signal: NodeJS.Signals): void {
      if (signalled) {
        log.warn({ signal }, 'second signal: exiting now')
        settle(1)
        return
      }
      signalled = true
      log.info({ signal }, 'signal received')
      stop().then(() => settle(0), (err: unknown) => {
        log.error({ err }, 'shutdown failed')
        settle(1)
      })
    }
    for (const name of SIGNALS) process.on(name, onSignal)
    if (reload !== undefined) process.on('SIGHUP', reload)
  })
}

/**
 * An uncaught exception or an unhandled rejection (Node raises both as 'uncaughtException') ends the
 * process with one `fatal` line and exit code 1, where Node would print a bare stack trace. The lines
 * still batched for stdout are written at exit, before the fatal one.
 */
export function exitOnFatalError (log: Logger): void {
  process.on('uncaughtException', function exitOnFatal (err: Error, origin: NodeJS.UncaughtExceptionOrigin) {
    log.fatal({ err, origin }, 'uncaught error: exiting')
    process.exit(1)
  })
}
