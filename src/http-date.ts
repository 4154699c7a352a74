// HTTP dates and Retry-After (RFC 9110 §5.6.7, §10.2.3), as Roecny's answers carry them: logins and 429 pauses read them alike.

/**
 * The three HTTP-date forms. Date.parse alone is far too lenient (it reads `-1` as a year), and
 * it would read the zone-less asctime form as local time.
 */
const IMF_FIXDATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/
const RFC850_DATE = /^[A-Z][a-z]+, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT$/
const ASCTIME_DATE = /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/

/** Epoch ms of an HTTP-date, or undefined when the value is not one. */
export function parseHttpDate (value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  let text: string
  if (IMF_FIXDATE.test(value) || RFC850_DATE.test(value)) text = value
  else if (ASCTIME_DATE.test(value)) text = `${value} GMT`
  else return undefined
  const ms = Date.parse(text)
  return Number.isNaN(ms) ? undefined : ms
}

/** Retry-After as delta-seconds or an HTTP date, relative to the answer's own clock (its `Date`). */
export function parseRetryAfter (value: string | undefined, serverNowMs: number): number | undefined {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const at = parseHttpDate(trimmed)
  return at === undefined ? undefined : Math.max(0, at - serverNowMs)
}
