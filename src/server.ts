// Starts the proxy (pool, token lifecycle, metrics, listeners) and stops it gracefully; signals are src/signals.ts's.
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { buildAdminApp } from './admin.js'
import { buildApp } from './app.js'
import type { AppProfiles, AppState } from './app.js'
import { systemClock } from './clock.js'
import type { Clock, TimerHandle } from './clock.js'
import type { Config } from './config.js'
import type { Fleet, FleetTimings } from './fleet/start.js'
import { limitsOf } from './limits/limiter.js'
import type { Limits } from './limits/limiter.js'
import { createMemoryLimiter } from './limits/memory-limiter.js'
import { createLogger } from './log.js'
import { createMetrics } from './metrics.js'
import type { ProxyMetrics } from './metrics.js'
import { AccessKeys } from './proxy/access-keys.js'
import { RotatingPool, createUpstreamDispatcher } from './proxy/upstream-pool.js'
import type { Pool } from 'undici'
import { watchFileSecrets } from './secrets/file-secrets.js'
import type { SecretWatcher } from './secrets/watch.js'
import { createTokenManager } from './token/token-manager.js'
import type { TokenManager } from './token/token-manager.js'
import { listenOnSocket } from './unix-socket.js'
import { VERSION } from './version.js'
import type { ProfilesDescription } from './profiles/file.js'
import type * as ProfilesStart from './profiles/start.js'
import type { ProfileLimiters } from './profiles/limits.js'
import type { ProfilesWatcher } from './profiles/reload.js'

export interface RunningProxy {
  /** `http://host:port` the proxy listens on, or `unix:/path` on a Unix socket. */
  readonly url: string
  readonly logger: Logger
  readonly app: FastifyInstance
  readonly tokens: TokenManager
  readonly metrics: ProxyMetrics
  /** `http://host:port` of the admin listener (probes and metrics); undefined without ADMIN_PORT. */
  readonly adminUrl: string | undefined
  /** Re-reads the *_FILE secrets (undefined when every secret came from the environment). */
  readonly secrets: SecretWatcher | undefined
  /** Readiness fails at once, serving goes on for SHUTDOWN_DELAY_MS, then in-flight requests finish. */
  shutdown: () => Promise<void>
  /** SIGHUP: re-reads the file secrets at once; with no usable token, also tries a login at once (TokenManager.retryNow). */
  reloadSecrets: () => void
  /** With PROXY_PROFILES_FILE: applies a new description, whole (tokens, selection, limits), to the next request. */
  readonly applyProfiles: ((description: ProfilesDescription) => void) | undefined
}

export interface StartOptions {
  logger?: Logger
  clock?: Clock
  /** Fleet mode's periods, for tests (short leases); the defaults otherwise. */
  fleet?: FleetTimings
}

/** What startProxy has made before the token sources, and hands to what it starts next. */
interface Parts {
  config: Config
  clock: Clock
  logger: Logger
  pool: Pool | RotatingPool
  metrics: ProxyMetrics
  fleet: Fleet | undefined
  limits: Limits | undefined
  limitsLog: Logger
}

/** The one token manager of a proxy without profiles, its gauges wired. */
function startSingleToken ({ config, clock, logger, pool, metrics, fleet }: Parts): TokenManager {
  const tokens = createTokenManager({ config, dispatcher: pool, clock, log: logger.child({ component: 'token' }), onLoginResult: metrics.login, fleet: fleet?.tokens })
  metrics.watchToken(tokens)
  return tokens
}

/** With PROXY_PROFILES_FILE: what the app, /-/status, SIGHUP and shutdown need of profiles. */
interface RunningProfiles {
  tokens: TokenManager
  profiles: AppProfiles
  /** Applies a new description, whole (tokens, selection, limits), to the next request. */
  apply: (description: ProfilesDescription) => void
  limiters: ProfileLimiters
  /** Re-reads the profiles file and the files it names; started once the listeners are up. */
  watcher: ProfilesWatcher
}

/** Each profile's limits, one token manager per distinct login, the caller's selection and the file's watcher. */
async function startProfiles (profiled: typeof ProfilesStart, description: ProfilesDescription, parts: Parts): Promise<RunningProfiles> {
  const { config, clock, logger, pool, metrics, fleet } = parts
  for (const warning of description.warnings) logger.warn(warning)
  // Each profile's own queue and caps over its account's budget; a profile with neither waits for nothing.
  // In fleet mode the account's budget and each profile's cap count for the whole fleet (SPEC §13), alone while Redis is away.
  const limiters = profiled.createProfileLimiters(description, parts.limits, { clock, log: parts.limitsLog, queue: { queueTimeoutMs: config.upstreamQueueTimeoutMs, queueMax: config.upstreamQueueMax }, budgetFor: await fleet?.budgets() })
  metrics.watchProfileLimits(() => limiters.status())
  // One token manager per distinct tuple (client ID, API key, scope, login-as); in fleet mode each is its own fleet.
  const profileTokens = profiled.createProfileTokens(description, function tokenManager (tuple, onToken) {
    const label = profiled.tokenLabel(tuple)
    return createTokenManager({
      config: { ...config, clientId: tuple.clientId, apiKey: tuple.apiKey, scope: tuple.scope, loginAs: tuple.loginAs },
      dispatcher: pool,
      clock,
      log: logger.child({ component: 'token', profile: label }),
      onLoginResult: profiled.profileLoginHook(tuple, metrics.profileLogin),
      // A new token, from this replica's login or adopted from the fleet, tells the registry (a handover may end).
      onToken,
      fleet: fleet?.tokens
    })
  })
  metrics.watchProfileTokens(() => profileTokens.managers().map(({ tuple, manager }) => ({ profile: profiled.tokenLabel(tuple), schedule: manager })))
  let selector = profiled.createSelector(description)
  // A reload (src/profiles/reload.ts's `apply`) calls this with the new description, checked whole.
  function apply (next: ProfilesDescription): void {
    profileTokens.apply(next)
    selector = profiled.createSelector(next)
    limiters.apply(next)
  }
  const watcher = profiled.watchProfiles({ description, environment: profiled.profilesEnvironment(config), pollMs: config.secretsPollMs, clock, log: logger.child({ component: 'profiles' }), onReload: metrics.secretReload, apply })
  metrics.watchSecrets(['PROXY_PROFILES_FILE'])
  return {
    // /-/status: each profile's entry also shows its queue (null when it waits for nothing).
    tokens: { ...profileTokens, status: profiled.withQueues(profileTokens.status, () => limiters.status()) },
    profiles: {
      guard: { select: () => selector, verdict: profiled.verdict },
      sourceOf: profileTokens.sourceOf,
      unready: profileTokens.unready,
      readyFor: profileTokens.readyFor,
      // Always with profiles, so that caps a reload gives a profile apply at once.
      limiterOf: (name) => limiters.forProfile(name),
      limitsStatus: () => limiters.accountsStatus()
    },
    apply,
    limiters,
    watcher
  }
}

/** The proxy's listener, then the admin one (probes keep answering through the drain; closed last). A failure closes the app: nothing may keep the process alive. */
async function listen (app: FastifyInstance, config: Config, buildAdmin: () => Promise<FastifyInstance> | undefined): Promise<{ address: string, admin: FastifyInstance | undefined, adminUrl: string | undefined }> {
  let address: string
  try {
    address = config.proxySocket === undefined
      ? await app.listen({ host: config.proxyHost, port: config.proxyPort })
      : await listenOnSocket(app, config.proxySocket, config.proxySocketMode)
  } catch (err) {
    // The pool and the token manager must not keep the process alive after a failed start.
    await app.close()
    throw err
  }
  const admin = await buildAdmin()
  if (admin === undefined) return { address, admin, adminUrl: undefined }
  try {
    return { address, admin, adminUrl: await admin.listen({ host: config.adminHost, port: config.adminPort }) }
  } catch (err) {
    // Nothing may keep running when start fails: the CLI reports the error and exits.
    await app.close()
    throw err
  }
}

/** The graceful stop, once however often it is asked for: readiness fails, serving goes on for SHUTDOWN_DELAY_MS, then in-flight requests finish. */
function drainer (app: FastifyInstance, admin: FastifyInstance | undefined, state: AppState, { config, clock, logger }: Pick<Parts, 'config' | 'clock' | 'logger'>): () => Promise<void> {
  function delay (ms: number): Promise<void> {
    return new Promise((resolve) => clock.setTimer(resolve, ms))
  }
  let shutdownPromise: Promise<void> | undefined
  return function shutdown (): Promise<void> {
    shutdownPromise ??= (async function drain () {
      state.draining = true
      logger.info({ delayMs: config.shutdownDelayMs, timeoutMs: config.shutdownTimeoutMs }, 'shutting down: readiness now fails')
      if (config.shutdownDelayMs > 0) await delay(config.shutdownDelayMs)
      state.closing = true
      const closed = app.close()
      let deadline: TimerHandle | undefined
      const timedOut = await Promise.race([
        closed.then(() => false),
        new Promise<boolean>((resolve) => { deadline = clock.setTimer(() => resolve(true), config.shutdownTimeoutMs) })
      ])
      deadline?.cancel()
      if (timedOut) {
        logger.warn('in-flight requests did not finish within SHUTDOWN_TIMEOUT_MS; closing their connections')
        app.server.closeAllConnections()
        await closed
      }
      await admin?.close()
      logger.info('stopped')
    })()
    return shutdownPromise
  }
}

export async function startProxy (config: Config, options: StartOptions = {}): Promise<RunningProxy> {
  const logger = options.logger ?? createLogger(config.logLevel)
  const clock = options.clock ?? systemClock
  // Decided once: without PROXY_PROFILES_FILE nothing of profiles is loaded. Read before anything
  // starts, so that its problems (a ConfigError: exit 78) leave nothing running.
  const profilesModule = config.profilesFile === undefined ? undefined : await import('./profiles/start.js')
  const description = profilesModule?.loadProfilesFor(config)
  const pool = createUpstreamDispatcher(config)
  const metrics = createMetrics({ now: clock.wallNow, profiles: description !== undefined })
  // Decided once: without REDIS_URL nothing of fleet mode is loaded, and the token manager works alone.
  const fleet = config.redisUrl === undefined
    ? undefined
    : (await import('./fleet/start.js')).startFleet(config, { clock, log: logger.child({ component: 'fleet' }), onState: metrics.fleetState, timings: options.fleet })
  if (fleet !== undefined) metrics.watchFleet(fleet.link)
  const limits = limitsOf(config)
  const limitsLog = logger.child({ component: 'limits' })
  // With profiles, each profile's limiter draws on its account's budget (UPSTREAM_* per account): no proxy-wide limiter.
  // In fleet mode the limits count for the whole fleet (SPEC §12), falling back to these local ones while Redis is away.
  const limiter = limits === undefined || description !== undefined
    ? undefined
    : fleet === undefined ? createMemoryLimiter(limits, { clock, log: limitsLog }) : await fleet.limiter(limits, limitsLog)
  if (limiter !== undefined) metrics.watchLimits(limiter)
  const parts: Parts = { config, clock, logger, pool, metrics, fleet, limits, limitsLog }
  // Loaded whenever a description is: the module reads the file.
  const profiled = description === undefined ? undefined : await startProfiles(profilesModule as typeof ProfilesStart, description, parts)
  const tokens = profiled?.tokens ?? startSingleToken(parts)
  const accessKeys = new AccessKeys(config.accessKeys)
  const upstream = pool instanceof RotatingPool ? pool : undefined
  const fileSecrets = watchFileSecrets(config, { tokens, accessKeys, upstream, fleet: fleet?.link }, { clock, log: logger.child({ component: 'secrets' }), metrics })
  const watched = profiled?.watcher
  // /-/status's `secrets`: the environment's file secrets and, with profiles, the profiles' files (never a value).
  const secrets = watched === undefined ? fileSecrets : { status: () => ({ ...fileSecrets?.status(), ...watched.status() }) }
  const state: AppState = { draining: false, closing: false }
  const profiles = profiled?.profiles
  const app = await buildApp(config, { logger, tokens, dispatcher: pool, state, metrics, limiter, accessKeys, secrets, fleet, profiles })
  app.addHook('onClose', async function closePool () {
    fileSecrets?.close()
    profiled?.watcher.close()
    profiled?.limiters.close()
    limiter?.close()
    await tokens.stop()
    fleet?.close()
    await pool.close()
  })

  for (const warning of config.warnings) logger.warn(warning)
  const { address, admin, adminUrl } = await listen(app, config, () => config.adminPort === undefined ? undefined : buildAdminApp({ logger, tokens, state, metrics, limits: config, profiles }))
  logger.info({ version: VERSION, address, adminAddress: adminUrl, upstream: config.baseUrl, limits }, 'roecny-auth-proxy listening')
  // First: a secret that changed since the configuration was read is then used by the first login.
  fileSecrets?.start()
  profiled?.watcher.start()
  tokens.start()

  function reloadSecrets (): void {
    if (fileSecrets === undefined) {
      logger.info('SIGHUP: no file secret to re-read (values set in the environment never change at run time)')
    } else {
      logger.info('SIGHUP: re-reading the file secrets')
      fileSecrets.reload()
    }
    profiled?.watcher.reload()
    // After the re-read: new credentials start their own login, and a login then uses them.
    tokens.retryNow()
  }

  const shutdown = drainer(app, admin, state, parts)
  return { url: address, logger, app, tokens, metrics, adminUrl, secrets: fileSecrets, shutdown, reloadSecrets, applyProfiles: profiled?.apply }
}
