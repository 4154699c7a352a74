// HTTP dates and Retry-After, read the same way for logins and for 429 pauses.
import t from 'tap'
import { parseHttpDate, parseRetryAfter } from '../src/http-date.js'

t.test('parseRetryAfter', async (t) => {
  t.equal(parseRetryAfter(' 7 ', 0), 7000)
  t.equal(parseRetryAfter(new Date(5000).toUTCString(), 10_000), 0, 'a date in the past means now')
  t.equal(parseRetryAfter('-1', 0), undefined)
  t.equal(parseRetryAfter(undefined, 0), undefined)
})

t.test('parseHttpDate reads the three HTTP-date forms and nothing else', async (t) => {
  const at = Date.UTC(2025, 3, 25, 7, 0, 0)
  t.equal(parseHttpDate('Fri, 25 Apr 2025 07:00:00 GMT'), at, 'IMF-fixdate')
  t.equal(parseHttpDate('Friday, 25-Apr-25 07:00:00 GMT'), at, 'RFC 850')
  t.equal(parseHttpDate('Fri Apr 25 07:00:00 2025'), at, 'asctime, read as GMT')
  t.equal(parseHttpDate('Fri Apr  5 07:00:00 2025'), Date.UTC(2025, 3, 5, 7, 0, 0), 'asctime, one-digit day')
  t.equal(parseHttpDate('Fri, 25 Apr 2025 27:00:00 GMT'), undefined, 'the right shape but no real time')
  t.equal(parseHttpDate('-1'), undefined)
  t.equal(parseHttpDate('2025-04-25T07:00:00Z'), undefined, 'ISO is not an HTTP-date')
  t.equal(parseHttpDate(undefined), undefined)
})
