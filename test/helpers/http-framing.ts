// A strict reader of the bytes a client received: a sequence of well-formed HTTP/1.1 responses, each complete or visibly cut, or the first thing wrong with them.

export interface ParsedResponse {
  status: number
  /** Header names lower-cased, in order, repeats kept. */
  headers: Array<[string, string]>
  body: Buffer
  /** How the body is delimited: by Content-Length, by chunks, by the close of the connection, or there is none. */
  framing: 'length' | 'chunked' | 'close' | 'none'
  /** The body arrived whole by its own framing (a cut one says so: the length or the last chunk is missing). */
  complete: boolean
}

export interface ReadResponses {
  /** Final and interim (1xx) responses, in order. */
  responses: ParsedResponse[]
  /** The first violation of HTTP/1.1 found, or undefined when every byte is part of a response. */
  malformed: string | undefined
}

const STATUS_LINE = /^HTTP\/1\.1 ([1-5]\d\d) [\t\x20-\x7e\x80-\xff]*$/
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/
const CHUNK_SIZE = /^([0-9a-fA-F]{1,16})(?:;[^\r\n]*)?$/
const MAX_HEAD_BYTES = 64 * 1024
const CRLF = Buffer.from('\r\n')
const HEAD_END = Buffer.from('\r\n\r\n')

/** The one value of a header, or undefined when absent; repeats are joined with `, `. */
export function headerOf (response: ParsedResponse, name: string): string | undefined {
  const values = response.headers.filter(([n]) => n === name).map(([, v]) => v)
  return values.length === 0 ? undefined : values.join(', ')
}

interface Cursor { at: number }

function readHead (data: Buffer, cursor: Cursor): { status: number, headers: Array<[string, string]> } | 'partial' | string {
  const end = data.indexOf(HEAD_END, cursor.at)
  if (end === -1) {
    if (data.length - cursor.at > MAX_HEAD_BYTES) return 'a response head over 64 KiB'
    // Even a cut head must be the start of a status line.
    const start = data.subarray(cursor.at, Math.min(data.length, cursor.at + 9)).toString('latin1')
    return 'HTTP/1.1 '.startsWith(start) ? 'partial' : `not a status line: ${JSON.stringify(start)}`
  }
  const lines = data.subarray(cursor.at, end).toString('latin1').split('\r\n')
  const statusLine = lines[0] as string
  const status = STATUS_LINE.exec(statusLine)
  if (status === null) return `not a status line: ${JSON.stringify(statusLine.slice(0, 80))}`
  const headers: Array<[string, string]> = []
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon)
    const value = line.slice(colon + 1).trim()
    if (colon <= 0 || !TOKEN.test(name) || !FIELD_VALUE.test(value)) return `not a header line: ${JSON.stringify(line.slice(0, 80))}`
    headers.push([name.toLowerCase(), value])
  }
  cursor.at = end + HEAD_END.length
  return { status: Number(status[1]), headers }
}

/** The chunked body from `cursor`; complete when the last chunk and the trailer section arrived. */
function readChunked (data: Buffer, cursor: Cursor): { body: Buffer, complete: boolean } | string {
  const parts: Buffer[] = []
  for (;;) {
    const lineEnd = data.indexOf(CRLF, cursor.at)
    if (lineEnd === -1) return { body: Buffer.concat(parts), complete: false }
    const sizeLine = CHUNK_SIZE.exec(data.subarray(cursor.at, lineEnd).toString('latin1'))
    if (sizeLine === null) return `not a chunk size: ${JSON.stringify(data.subarray(cursor.at, lineEnd).toString('latin1').slice(0, 40))}`
    const size = parseInt(sizeLine[1] as string, 16)
    if (size === 0) {
      // Trailer fields, then the empty line.
      let at = lineEnd + 2
      for (;;) {
        const end = data.indexOf(CRLF, at)
        if (end === -1) {
          cursor.at = data.length
          return { body: Buffer.concat(parts), complete: false }
        }
        if (end === at) {
          cursor.at = end + 2
          return { body: Buffer.concat(parts), complete: true }
        }
        at = end + 2
      }
    }
    const start = lineEnd + 2
    if (data.length < start + size + 2) {
      parts.push(data.subarray(start, Math.min(data.length, start + size)))
      cursor.at = data.length
      return { body: Buffer.concat(parts), complete: false }
    }
    if (!data.subarray(start + size, start + size + 2).equals(CRLF)) return 'a chunk longer than its size'
    parts.push(data.subarray(start, start + size))
    cursor.at = start + size + 2
  }
}

/**
 * Reads `data`, everything a client received on one connection. `methods` are the methods of the
 * requests sent, in order (a HEAD answer has no body); `closed`: the connection was closed after it.
 */
export function readResponses (data: Buffer, methods: readonly string[], closed: boolean): ReadResponses {
  const responses: ParsedResponse[] = []
  const cursor: Cursor = { at: 0 }
  let finals = 0
  let closing = false
  while (cursor.at < data.length) {
    if (closing) return { responses, malformed: 'bytes after a response that said connection: close' }
    const head = readHead(data, cursor)
    if (head === 'partial') break
    if (typeof head === 'string') return { responses, malformed: head }
    const response: ParsedResponse = { ...head, body: Buffer.alloc(0), framing: 'none', complete: true }
    responses.push(response)
    if (head.status === 101) return { responses, malformed: 'a protocol switch' }
    if (head.status < 200) continue
    const method = methods[finals++] ?? 'GET'
    const lengths = head.headers.filter(([name]) => name === 'content-length').map(([, value]) => value)
    const encoding = headerOf(response, 'transfer-encoding')
    closing = /(?:^|,)\s*close\s*(?:,|$)/i.test(headerOf(response, 'connection') ?? '')
    if (lengths.length > 1) return { responses, malformed: 'more than one Content-Length' }
    if (lengths.length === 1 && encoding !== undefined) return { responses, malformed: 'Content-Length with Transfer-Encoding' }
    if (lengths.length === 1 && !/^\d{1,15}$/.test(lengths[0] as string)) return { responses, malformed: `a bad Content-Length: ${lengths[0] as string}` }
    if (method === 'HEAD' || head.status === 204 || head.status === 304) continue
    if (encoding !== undefined) {
      if (encoding.toLowerCase() !== 'chunked') return { responses, malformed: `a transfer coding other than chunked: ${encoding}` }
      response.framing = 'chunked'
      const chunked = readChunked(data, cursor)
      if (typeof chunked === 'string') return { responses, malformed: chunked }
      response.body = chunked.body
      response.complete = chunked.complete
    } else if (lengths.length === 1) {
      const length = Number(lengths[0])
      response.framing = 'length'
      response.body = data.subarray(cursor.at, Math.min(data.length, cursor.at + length))
      response.complete = response.body.length === length
      cursor.at += response.body.length
    } else {
      // Without a length, the body runs to the close: only a response that closes the connection may do that.
      if (!closing) return { responses, malformed: 'a body delimited by nothing, on a connection kept open' }
      response.framing = 'close'
      response.body = data.subarray(cursor.at)
      response.complete = closed
      cursor.at = data.length
    }
  }
  return { responses, malformed: undefined }
}
