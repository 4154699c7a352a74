// Expect (RFC 9110 §10.1.1), taken over from Node: 100 Continue once the body is wanted, any other expectation refused.
import type { IncomingMessage, Server, ServerResponse } from 'node:http'

/** True when every member of the Expect list is `100-continue` (compared case-insensitively). */
export function onlyContinue (expect: string): boolean {
  let members = 0
  for (const member of expect.split(',')) {
    const name = member.trim()
    // Empty list elements are allowed by the list syntax and mean nothing.
    if (name === '') continue
    if (name.toLowerCase() !== '100-continue') return false
    members++
  }
  return members > 0
}

/**
 * Sends the interim 100 Continue when something first starts reading the request's body (a 'data'
 * or 'readable' listener: a pipe, undici streaming it upstream, an async iterator), and never after
 * the final answer began. Everything that refuses a request (the guards, the body limit, a missing
 * token, draining) does so before reading it, so a refused client gets its final answer without a
 * 100 and never sends the body (Node then closes the connection, as the body may still come); an
 * accepted one gets its 100 when the body is streamed upstream.
 */
function continueOnFirstRead (req: IncomingMessage, res: ServerResponse): void {
  req.on('newListener', function continueOnRead (event: string | symbol): void {
    if (event !== 'data' && event !== 'readable') return
    req.off('newListener', continueOnRead)
    if (!res.headersSent) res.writeContinue()
  })
}

/**
 * Node answers `Expect: 100-continue` with a 100 before the application sees the request, and
 * other expectations with a bare 417; both events are taken over here. Node raises them only
 * for HTTP/1.1 requests that carry Expect, so other requests pay nothing. (An HTTP/1.0
 * request's Expect is ignored, as RFC 9110 asks, and is dropped when forwarding.)
 */
export function handleExpectations (server: Server, expectationFailed: (req: IncomingMessage, res: ServerResponse) => void): void {
  server.on('checkContinue', function checkContinue (req: IncomingMessage, res: ServerResponse) {
    // Node matches any list that mentions 100-continue; one with another member is refused whole.
    if (!onlyContinue(req.headers.expect as string)) {
      expectationFailed(req, res)
      return
    }
    continueOnFirstRead(req, res)
    server.emit('request', req, res)
  })
  server.on('checkExpectation', expectationFailed)
}
