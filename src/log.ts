// pino options and the one redaction list: no secret reaches a log line at any level; stdout written in batches.
import pino from 'pino'
import type { DestinationStream, Logger } from 'pino'
import { systemClock } from './clock.js'
import type { Clock, TimerHandle } from './clock.js'

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

/** Destinations with lines not yet written: written synchronously when the process exits. */
const batching = new Set<BatchedDestination>()

function writeAllOnExit (): void {
  for (const destination of batching) destination.flushSync()
}

/**
 * A file descriptor (stdout) written in batches: one write carries the lines of up to LOG_BATCH_MS,
 * or LOG_BATCH_CHARS of them, where one write per access-log line would cost about as much as
 * formatting ten lines. Lines keep their order. Whatever is still batched when the process exits,
 * at process.exit(), after SIGTERM's drain or after an uncaught exception, is written then; only a
 * process killed outright (SIGKILL) loses its last LOG_BATCH_MS of lines.
 *
 * Each batch is written synchronously, as pino's own default destination writes each line. An
 * asynchronous write would still be in the thread pool when the process exits, and its lines lost
 * (seen under load: the first 50 of 200 lines gone), since nothing can wait for it at exit.
 */
export class BatchedDestination implements DestinationStream {
  readonly #sink: ReturnType<typeof pino.destination>
  readonly #clock: Clock
  #batch = ''
  #timer: TimerHandle | undefined

  constructor (fd = 1, clock: Clock = systemClock) {
    this.#sink = pino.destination({ dest: fd, sync: true })
    this.#clock = clock
    if (batching.size === 0) process.on('exit', writeAllOnExit)
    batching.add(this)
  }

  write (line: string): void {
    this.#batch += line
    if (this.#batch.length >= LOG_BATCH_CHARS) this.#send()
    else this.#timer ??= this.#clock.setTimer(() => this.#send(), LOG_BATCH_MS)
  }

  /** Writes the batch, in one write (retried by the writer while a full pipe refuses it). */
  #send (): void {
    this.#timer?.cancel()
    this.#timer = undefined
    const batch = this.#batch
    this.#batch = ''
    this.#sink.write(batch)
  }

  /** Writes every line not yet written before returning. */
  flushSync (): void {
    if (this.#batch !== '') this.#send()
    this.#sink.flushSync()
  }
}

export function createLogger (level: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    base: { name: 'roecny-auth-proxy' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime
  }, destination ?? new BatchedDestination())
}
