// Broken and hostile answers for the mock's raw-socket fault routes: what a faulty Roecny, or a hostile server in its place, could send.
import type { IncomingMessage } from 'node:http'

/**
 * How the connection ends once a raw answer is written: FIN, TCP reset (which, right behind the data,
 * a Linux peer may read as a plain end), or left open (the mock's own HTTP server then still waits
 * to answer that request, so the connection answers nothing more).
 */
export type RawEnd = 'close' | 'reset' | 'keep'

export interface RawAnswer {
  readonly bytes: Buffer
  readonly end: RawEnd
}

export function rawAnswer (bytes: Buffer | string, end: RawEnd = 'close'): RawAnswer {
  return { bytes: typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes, end }
}

const HUNDRED = 'x'.repeat(100)

/** The named faults, served at `/api/v1/test/fault/<name>` when the mock's fault routes are on. */
export const FAULTS: Readonly<Record<string, RawAnswer>> = {
  // 100 bytes of the 1,000 promised, then a clean close: the body is cut, not complete.
  'short-length': rawAnswer(`HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n${HUNDRED}`),
  // Two lengths that disagree: which one frames the body is anybody's guess.
  'duplicate-length': rawAnswer('HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 7\r\n\r\nhello, w'),
  // A chunk size that is not hexadecimal from the first chunk on: nothing of the body is usable.
  'bad-first-chunk': rawAnswer('HTTP/1.1 200 OK\r\nset-cookie: session=upstream\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'),
  // A chunk size that is not hexadecimal, after a good chunk.
  'bad-chunk-size': rawAnswer('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n'),
  // A chunked body whose chunk is longer than its size says.
  'chunk-overrun': rawAnswer('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello, world\r\n0\r\n\r\n'),
  // A chunked body that stops half-way, then a clean close.
  'cut-chunked': rawAnswer(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3e8\r\n${HUNDRED}`),
  // The same, ended by a TCP reset.
  'reset-mid-chunked': rawAnswer(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3e8\r\n${HUNDRED}`, 'reset'),
  // A protocol switch nobody asked for, and bytes of the "new protocol" after it.
  'switching-protocols': rawAnswer('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n\x81\x05hello'),
  // Interim answers before the real one: legal, and the real answer must get through.
  'early-hints': rawAnswer('HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n' +
    'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok'),
  // 100 Continue to a request that did not ask for it, then the real answer.
  'unasked-continue': rawAnswer('HTTP/1.1 100 Continue\r\n\r\n' +
    'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok'),
  // An interim answer and then nothing but a close.
  'interim-only': rawAnswer('HTTP/1.1 102 Processing\r\n\r\n'),
  'invalid-status-line': rawAnswer('HTTP/1.1 2000 Very OK\r\ncontent-length: 2\r\n\r\nok'),
  'not-http': rawAnswer('SSH-2.0-OpenSSH_9.6\r\n'),
  // 70 KB of headers, far beyond what an HTTP client accepts.
  'huge-header': rawAnswer(`HTTP/1.1 200 OK\r\nx-padding: ${'p'.repeat(70 * 1024)}\r\ncontent-length: 2\r\n\r\nok`),
  // A good answer, then a second one nobody asked for on the same connection (left open): it must answer no one.
  'extra-response': rawAnswer('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nfirst' +
    'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 8\r\n\r\nsmuggled', 'keep'),
  // Headers and 100 of 1,000 bytes, then silence with the connection open.
  'partial-then-hold': rawAnswer(`HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n${HUNDRED}`, 'keep')
}

/** Writes the answer on the request's socket, past the HTTP server, then ends the connection as told. */
export function writeRaw (req: IncomingMessage, answer: RawAnswer): void {
  req.resume()
  const socket = req.socket
  socket.write(answer.bytes, () => {
    if (answer.end === 'close') socket.end()
    else if (answer.end === 'reset') socket.resetAndDestroy()
  })
}
