// pino options and the one redaction list: no secret reaches a log line at any level; levels by name; stdout written in batches.
import pino from 'pino'
import type { DestinationStream, Logger } from 'pino'

/** pino's own destination (a sonic-boom). */
type Destination = ReturnType<typeof pino.destination>

/** Every place a secret could sit in a logged object. Declared once, used by every logger. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["x-client-id"]',
  'req.headers["x-proxy-key"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["x-proxy-key"]',
  'headers.cookie',
  'token',
  'apiKey',
  'accessKey',
  'accessKeys',
  'config.apiKey',
  'config.accessKeys'
]

/** Characters of log lines collected before they go out in one write. */
export const LOG_BATCH_CHARS = 4096
/** The longest a line waits in a batch. */
export const LOG_BATCH_MS = 100

/**
 * A file descriptor (stdout) written in batches, by pino's own destination (sonic-boom): one write
 * carries up to LOG_BATCH_CHARS of lines (minLength), or what LOG_BATCH_MS collected (periodicFlush),
 * where one write per access-log line would cost about as much as formatting ten lines. Lines keep
 * their order. Each batch is written synchronously: an asynchronous write could still be in the
 * thread pool when the process exits, and nothing can wait for it then. What is still batched at
 * exit (process.exit, the end of SIGTERM's drain, a fatal error) is written then; only a process
 * killed outright (SIGKILL) loses its last LOG_BATCH_MS of lines.
 */
export function batchedDestination (fd: number): Destination {
  const destination = pino.destination({ dest: fd, sync: true, minLength: LOG_BATCH_CHARS, periodicFlush: LOG_BATCH_MS })
  function writeAllOnExit (): void {
    destination.flushSync()
  }
  process.on('exit', writeAllOnExit)
  destination.on('close', () => process.off('exit', writeAllOnExit))
  return destination
}

/** The second isoTime last formatted (ms since the epoch), and its line text up to the milliseconds. */
let second = Number.NaN
let secondText = ''

/**
 * pino's `timestamp`: `,"time":"<ISO 8601 in UTC>"`, the text of pino.stdTimeFunctions.isoTime, but
 * formatting a Date only once a second; a line within the same second appends its milliseconds
 * to the cached text (isoTime's Date and toISOString cost about 2 µs a line under load).
 */
export function isoTime (now = Date.now()): string {
  const ms = now % 1000
  if (now - ms !== second) {
    second = now - ms
    const text = new Date(second).toISOString()
    secondText = `,"time":"${text.slice(0, -4)}`
  }
  return `${secondText}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z"`
}

let stdout: Destination | undefined

/** The process's stdout in batches: one destination for every logger that writes there, so their lines keep one order. */
function batchedStdout (): Destination {
  stdout ??= batchedDestination(1)
  return stdout
}

export function createLogger (level: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    base: { name: 'roecny-auth-proxy' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: isoTime,
    // "level":"info" rather than pino's number, as log pipelines read it.
    formatters: { level: (label) => ({ level: label }) }
  }, destination ?? batchedStdout())
}
