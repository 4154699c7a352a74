// Figures for the proxy alone: memory across 1 GB streamed each way, logins for a cold burst; time to ready for each Node contender.
import { Readable } from 'node:stream'
import { Client, Pool, request } from 'undici'
import { LOAD_PATH } from './common.js'
import { spawnProxy, startProxy, startServer, thisBuild, until200 } from './contenders.js'
import type { Placement, ProxyBuild, ProxyProcess, ServerScript, Upstream } from './contenders.js'
import { rssBytes, rssSampler } from './proc.js'

const CHUNK = Buffer.alloc(64 * 1024, 'roecny-bench-upload-')

export interface TransferFigures {
  bytes: number
  idleRssBytes: number
  upload: { seconds: number, peakRssBytes: number, growthBytes: number, status: number }
  download: { seconds: number, peakRssBytes: number, growthBytes: number, status: number, received: number }
}

async function * uploadBody (bytes: number): AsyncGenerator<Buffer> {
  let left = bytes
  while (left > 0) {
    const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left)
    left -= chunk.length
    yield chunk
  }
}

/** A fresh proxy; RSS before, then its peak while `bytes` go up through it, then while they come down. */
export async function transfer (placement: Placement, upstream: Upstream, bytes: number, build: ProxyBuild = thisBuild()): Promise<TransferFigures> {
  const proxy = await startProxy(placement, upstream, 'proxy-transfer', build)
  try {
    return await transferThrough(proxy.url, proxy.pids, bytes)
  } finally {
    await proxy.stop()
  }
}

/** The same through a fresh bench server (bare Fastify): what its stack alone grows by. */
export async function serverTransfer (placement: Placement, upstream: Upstream, server: ServerScript, bytes: number): Promise<TransferFigures> {
  const running = await startServer(placement, upstream, server)
  try {
    return await transferThrough(running.url, running.pids, bytes)
  } finally {
    await running.stop()
  }
}

async function transferThrough (url: string, pids: () => readonly number[], bytes: number): Promise<TransferFigures> {
  const client = new Client(url)
  try {
    const idle = rssBytes(pids()[0] as number)

    let sampler = rssSampler(pids, 20)
    let started = performance.now()
    const up = await client.request({
      path: '/api/v1/upload',
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes) },
      body: Readable.from(uploadBody(bytes), { objectMode: false })
    })
    const upStatus = up.statusCode
    await up.body.dump()
    const upSeconds = (performance.now() - started) / 1000
    const upPeak = sampler.stop()

    sampler = rssSampler(pids, 20)
    started = performance.now()
    const down = await client.request({ path: `/api/v1/download?bytes=${bytes}`, method: 'GET' })
    let received = 0
    for await (const chunk of down.body) received += (chunk as Buffer).length
    const downSeconds = (performance.now() - started) / 1000
    const downPeak = sampler.stop()

    return {
      bytes,
      idleRssBytes: idle,
      upload: { seconds: upSeconds, peakRssBytes: upPeak, growthBytes: upPeak - idle, status: upStatus },
      download: { seconds: downSeconds, peakRssBytes: downPeak, growthBytes: downPeak - idle, status: down.statusCode, received }
    }
  } finally {
    await client.close()
  }
}

export interface ColdBurstFigures {
  requests: number
  /** Logins the upstream saw from start to the last answer. */
  logins: number
  /** /-/readyz answered 503 right before the burst: the proxy was cold. */
  coldAtBurst: boolean
  ok: number
  failed: number
}

/**
 * A fresh proxy whose first login takes `loginDelayMs`; `count` concurrent requests, each on its
 * own connection, sent as soon as it listens. The spec allows exactly one login for them.
 */
export async function coldBurst (placement: Placement, upstream: Upstream, count: number, loginDelayMs: number, build: ProxyBuild = thisBuild()): Promise<ColdBurstFigures> {
  await upstream.setLoginDelay(loginDelayMs)
  const before = await upstream.logins()
  let proxy: ProxyProcess | undefined
  let target: Pool | undefined
  try {
    proxy = await spawnProxy(placement, upstream, 'proxy-cold', build)
    await until200(`${proxy.url}/-/healthz`, 10_000, 1)
    const probe = await request(`${proxy.url}/-/readyz`, { reset: true })
    await probe.body.dump()
    const burst = new Pool(proxy.url, { connections: count })
    target = burst
    const statuses = await Promise.all(Array.from({ length: count }, async () => {
      try {
        const res = await burst.request({ path: LOAD_PATH, method: 'GET' })
        await res.body.dump()
        return res.statusCode
      } catch {
        return 0
      }
    }))
    const ok = statuses.filter((s) => s === 200).length
    return { requests: count, logins: (await upstream.logins()) - before, coldAtBurst: probe.statusCode === 503, ok, failed: count - ok }
  } finally {
    await target?.close()
    await proxy?.stop()
    await upstream.setLoginDelay(0)
  }
}

/** Milliseconds from spawning `serve` to the first 200 from /-/readyz, against the local login. */
export async function timeToReady (placement: Placement, upstream: Upstream, build: ProxyBuild = thisBuild()): Promise<number> {
  const proxy = await spawnProxy(placement, upstream, 'proxy-ready', build)
  try {
    await until200(`${proxy.url}/-/readyz`, 10_000, 1)
    return performance.now() - proxy.startedAt
  } finally {
    await proxy.stop()
  }
}

/** Milliseconds from spawning a bench server (the floor, bare Fastify) to its first 200 through to the upstream. */
export async function serverTimeToReady (placement: Placement, upstream: Upstream, server: ServerScript): Promise<number> {
  const running = await startServer(placement, upstream, server)
  await running.stop()
  return running.readyMs
}
