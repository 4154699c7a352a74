// pino options and the one redaction list: no secret reaches a log line at any level.
import pino from 'pino'
import type { DestinationStream, Logger } from 'pino'

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

export function createLogger (level: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    base: { name: 'roecny-auth-proxy' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime
  }, destination ?? pino.destination({ dest: 1, sync: false }))
}
