// The proxy loads the parts of undici it uses, never undici's entry point (and so never Node's own bundled undici).
import module from 'node:module'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import * as subset from '../src/undici.js'
import { probeNode } from './helpers/node-probe.js'

const hasHooks = typeof (module as { registerHooks?: unknown }).registerHooks === 'function'
const SERVER = fileURLToPath(new URL('../src/server.ts', import.meta.url))

t.test('the subset is undici\'s own classes, with the request API every dispatcher has', async (t) => {
  const require = module.createRequire(import.meta.url)
  t.equal(subset.Pool, require('undici/lib/dispatcher/pool.js'))
  t.equal(subset.Client, require('undici/lib/dispatcher/client.js'))
  t.equal(subset.BalancedPool, require('undici/lib/dispatcher/balanced-pool.js'))
  for (const method of ['request', 'stream', 'pipeline', 'connect', 'upgrade']) {
    t.type((subset.Pool.prototype as unknown as Record<string, unknown>)[method], 'function', method)
  }
})

t.test('only @fastify/reply-from\'s require of undici is redirected', async (t) => {
  t.ok(subset.isReplyFromUndici('undici', 'file:///app/node_modules/@fastify/reply-from/lib/request.js'))
  t.notOk(subset.isReplyFromUndici('undici', 'file:///app/node_modules/@fastify/http-proxy/index.js'))
  t.notOk(subset.isReplyFromUndici('undici', 'file:///app/dist/src/server.js'))
  t.notOk(subset.isReplyFromUndici('undici', undefined))
  t.notOk(subset.isReplyFromUndici('undici/lib/dispatcher/pool.js', 'file:///app/node_modules/@fastify/reply-from/lib/request.js'))
  const replyFrom = module.createRequire(module.createRequire(import.meta.url).resolve('@fastify/reply-from/lib/request.js'))
  const seen = replyFrom('undici') as Record<string, unknown>
  if (hasHooks) {
    t.equal(seen.Pool, subset.Pool, 'reply-from gets the subset')
    t.equal(seen.fetch, undefined, 'and not undici\'s entry point')
  } else {
    t.equal(seen.Pool, subset.Pool, 'Node 20 (no module.registerHooks): reply-from loads undici\'s entry point, with the same classes')
    t.type(seen.fetch, 'function')
  }
})

t.test(`serve's modules load neither undici's entry point nor Node's bundled undici${hasHooks ? '' : ' (Node 20: both, as before)'}`, async (t) => {
  const probe = `await import(${JSON.stringify(SERVER)})
const entry = Object.keys(require.cache).some((file) => /node_modules[\\\\/]undici[\\\\/]index\\.js$/.test(file))
const bundled = process.moduleLoadList.includes('NativeModule internal/deps/undici/undici')
console.log(JSON.stringify({ entry, bundled }))`
  const loaded = JSON.parse(await probeNode(probe)) as { entry: boolean, bundled: boolean }
  t.same(loaded, hasHooks ? { entry: false, bundled: false } : { entry: true, bundled: true })
})
