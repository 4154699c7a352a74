// A replica for tests as a real process: the real startProxy under the environment's configuration, with fleet
// timings from its first argument (JSON), so that a lease lasts about a second; SIGTERM stops it as `serve` does.
import { loadConfig } from '../../src/config.js'
import { startProxy } from '../../src/server.js'
import { stopOnSignals } from '../../src/signals.js'

const proxy = await startProxy(loadConfig(process.env), { fleet: JSON.parse(process.argv[2] ?? '{}') })
process.exit(await stopOnSignals(proxy.shutdown, proxy.logger, proxy.reloadSecrets))
