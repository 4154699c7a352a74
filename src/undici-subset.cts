// The parts of undici the proxy uses, built as undici's entry point builds them, without the rest of it.
// CommonJS, so that @fastify/reply-from's require('undici') can be given this module (see undici.ts).
import type * as Undici from 'undici'

const Dispatcher: typeof Undici.Dispatcher = require('undici/lib/dispatcher/dispatcher.js')
// What undici's entry point adds to every dispatcher: request(), stream(), pipeline(), connect(), upgrade().
Object.assign(Dispatcher.prototype, require('undici/lib/api/index.js'))

const subset: Pick<typeof Undici, 'Dispatcher' | 'Client' | 'Pool' | 'BalancedPool'> = {
  Dispatcher,
  Client: require('undici/lib/dispatcher/client.js'),
  Pool: require('undici/lib/dispatcher/pool.js'),
  BalancedPool: require('undici/lib/dispatcher/balanced-pool.js')
}

export = subset
