import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { test } from 'tap'
import { request } from 'undici'
import { startStack } from './helpers/stack.js'

const SIZE = 20 * 1024 * 1024

function body (size: number): { stream: Readable, sha256: Promise<string> } {
  const hash = createHash('sha256')
  let left = size
  let counter = 0
  const stream = new Readable({
    read () {
      if (left === 0) {
        this.push(null)
        return
      }
      const chunk = Buffer.alloc(Math.min(64 * 1024, left), counter++ % 251)
      left -= chunk.length
      hash.update(chunk)
      this.push(chunk)
    }
  })
  return { stream, sha256: new Promise((resolve) => stream.on('end', () => resolve(hash.digest('hex')))) }
}

test('a 20 MB upload streams through intact (chunked and with Content-Length)', async (t) => {
  const stack = await startStack(t)
  for (const withLength of [false, true]) {
    const upload = body(SIZE)
    const res = await request(`${stack.url}/api/v1/echo/upload`, {
      method: 'POST',
      headers: withLength ? { 'content-length': String(SIZE), 'content-type': 'application/octet-stream' } : { 'content-type': 'application/octet-stream' },
      body: upload.stream
    })
    const echoed = await res.body.json() as { bodyBytes: number, bodySha256: string, headers: Record<string, string> }
    t.equal(res.statusCode, 200)
    t.equal(echoed.bodyBytes, SIZE, 'every byte arrived')
    t.equal(echoed.bodySha256, await upload.sha256, 'bytes intact')
    t.equal(echoed.headers['content-type'], 'application/octet-stream', 'content type kept')
  }
})

test('a 20 MB download streams through intact', async (t) => {
  const stack = await startStack(t)
  const direct = createHash('sha256')
  const pattern = Buffer.alloc(64 * 1024, 'roecny-mock-data-')
  for (let left = SIZE; left > 0; left -= pattern.length) direct.update(pattern.subarray(0, Math.min(left, pattern.length)))
  const res = await request(`${stack.url}/api/v1/test/bytes/${SIZE}`)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-length'], String(SIZE))
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of res.body) {
    bytes += (chunk as Buffer).length
    hash.update(chunk as Buffer)
  }
  t.equal(bytes, SIZE)
  t.equal(hash.digest('hex'), direct.digest('hex'))
})
