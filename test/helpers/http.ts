// Small HTTP clients for tests: undici for ordinary requests, raw sockets where a library would tidy up.
import { connect } from 'node:net'
import { request } from 'undici'

export interface SimpleResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

export async function get (url: string, init: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<SimpleResponse> {
  const res = await request(url, { method: (init.method ?? 'GET') as 'GET', headers: init.headers, body: init.body })
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() }
}

export async function json<T = Record<string, unknown>> (url: string, init: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<{ status: number, headers: SimpleResponse['headers'], body: T }> {
  const res = await get(url, init)
  return { status: res.status, headers: res.headers, body: JSON.parse(res.body) as T }
}

/**
 * Sends `raw` bytes on a fresh connection and resolves with everything received until the server
 * closes. `url` is `http://host:port` or `unix:/path/of/the.sock`.
 */
export function rawRequest (url: string, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = url.startsWith('unix:') ? connect({ path: url.slice(5) }) : connect({ host: new URL(url).hostname, port: Number(new URL(url).port) })
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')))
    socket.write(raw)
  })
}
