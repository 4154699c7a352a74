// A raw client for Expect: 100-continue: sends the head, and the body only once a 100 Continue came (as curl does).
import { connect } from 'node:net'
import { parseRaw } from './raw.js'
import type { RawResponse } from './raw.js'

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n'

export interface Exchange {
  /** The interim 100 Continue came before the final answer. */
  continued: boolean
  /** The body was sent (only ever after a 100, when waiting for one). */
  bodySent: boolean
  /** The final answer. */
  response: RawResponse
}

export interface ExchangeOptions {
  /** Send the body only after a 100 Continue (default); false sends it with the head at once. */
  waitForContinue?: boolean
  /** Give up after this long: a server that neither continues nor answers fails the test (default 10 s). */
  deadlineMs?: number
}

/**
 * Sends `head` (request line and headers, ending in an empty line; latin1, so obs-text goes as its
 * bytes) on a fresh connection, then
 * `body` as the options say, and resolves with what came back once the server closes the connection.
 */
export function exchange (url: string, head: string, body: Buffer, options: ExchangeOptions = {}): Promise<Exchange> {
  const wait = options.waitForContinue ?? true
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url)
    const socket = connect({ host: hostname, port: Number(port) })
    const chunks: Buffer[] = []
    let received = ''
    let bodySent = !wait
    const deadline = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer within the deadline; received so far: ${JSON.stringify(received.slice(0, 200))}`))
    }, options.deadlineMs ?? 10_000)
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      if (bodySent) return
      received += chunk.toString('latin1')
      if (received.startsWith(CONTINUE)) {
        bodySent = true
        socket.write(body)
      }
    })
    socket.on('error', (err) => {
      clearTimeout(deadline)
      reject(err)
    })
    socket.on('close', () => {
      clearTimeout(deadline)
      const raw = Buffer.concat(chunks).toString('latin1')
      const continued = raw.startsWith(CONTINUE)
      resolve({ continued, bodySent, response: parseRaw(continued ? raw.slice(CONTINUE.length) : raw) })
    })
    const headBytes = Buffer.from(head, 'latin1')
    socket.write(wait ? headBytes : Buffer.concat([headBytes, body]))
  })
}

/** `body` framed as chunked transfer coding, in chunks of at most `size` bytes. */
export function chunkedBody (body: Buffer, size = 64 * 1024): Buffer {
  const parts: Buffer[] = []
  for (let offset = 0; offset < body.length; offset += size) {
    const chunk = body.subarray(offset, offset + size)
    parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'))
  }
  parts.push(Buffer.from('0\r\n\r\n'))
  return Buffer.concat(parts)
}
