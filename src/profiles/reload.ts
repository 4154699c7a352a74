// Re-reads PROXY_PROFILES_FILE and every file it names as §10's secrets are; a valid change applies whole, anything else leaves the last good profiles in use.
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import { ConfigError } from '../config.js'
import { MAX_CA_FILE_BYTES, MAX_SECRET_FILE_BYTES, parseCredential, readSecretFile } from '../config/secret-files.js'
import { createSecretWatcher } from '../secrets/watch.js'
import type { ApplyOutcome, ReloadResult, SecretWatcher, WatchedFile } from '../secrets/watch.js'
import { readProfiles } from './file.js'
import type { ProfilesDescription, ProfilesEnvironment, ProfilesRead } from './file.js'

const FILE = 'PROXY_PROFILES_FILE'

export interface ProfilesWatchOptions {
  /** The description applied at start. */
  readonly description: ProfilesDescription
  readonly environment: ProfilesEnvironment
  /** SECRETS_POLL_MS: the fallback re-read period; 0: file events and reload() only. */
  readonly pollMs: number
  readonly clock: Clock
  readonly log: Logger
  /** Told of each change applied or ignored, always as PROXY_PROFILES_FILE (metrics: the label stays bounded). */
  readonly onReload?: (name: string, result: ReloadResult) => void
  /** Puts a new description in use, whole. */
  readonly apply: (description: ProfilesDescription) => void
}

export interface ProfilesWatcher {
  /** Reads the files once (the texts the start description came from), then watches their directories and polls. */
  start: () => void
  /** Re-reads every file now (SIGHUP). */
  reload: () => void
  /**
   * Per file (PROXY_PROFILES_FILE, `<profile>.<field>` for each file it names, ROECNY_CLIENT_ID_FILE /
   * ROECNY_API_KEY_FILE when a profile takes its credential from the environment's file): when
   * loaded, and its generation; never a value.
   */
  status: () => Record<string, unknown>
  /** Stops watching and polling. Final. */
  close: () => void
}

interface Loaded {
  loadedAtWallMs: number
  generation: number
}

/** The environment's credential files, which profiles naming none of their own use (their changes apply to those profiles too). */
const ENVIRONMENT_FILES = [['ROECNY_CLIENT_ID_FILE', 'clientId'], ['ROECNY_API_KEY_FILE', 'apiKey']] as const

/**
 * Each file the description uses, by path: under the name of the first profile and field naming it,
 * or of the environment's variable for a credential a profile takes from the environment's file.
 */
function namedFiles (description: ProfilesDescription): Map<string, string> {
  const files = new Map<string, string>()
  for (const profile of description.profiles.values()) {
    const used: Array<[string, string | undefined]> = [
      [`${profile.name}.accessKeysFile`, profile.accessKeysFile],
      [profile.clientId.own ? `${profile.name}.clientIdFile` : 'ROECNY_CLIENT_ID_FILE', profile.clientId.file],
      [profile.apiKey.own ? `${profile.name}.apiKeyFile` : 'ROECNY_API_KEY_FILE', profile.apiKey.file]
    ]
    for (const [name, path] of used) if (path !== undefined && !files.has(path)) files.set(path, name)
  }
  return files
}

/** The same files with the same texts read in the same order: a description's files are read in an order its text fixes. */
function fingerprint (texts: ReadonlyMap<string, string>): string {
  return JSON.stringify([...texts])
}

class ProfilesReloader implements ProfilesWatcher {
  readonly #options: ProfilesWatchOptions
  readonly #path: string
  /** The texts the applied description was read from, by path; undefined until the first read succeeds. */
  #texts: ReadonlyMap<string, string> | undefined
  /** The named files of the applied description, by path. */
  #named: Map<string, string>
  readonly #loaded = new Map<string, Loaded>()
  /** Why the last read was refused, while it stays refused: tried again on every pass. */
  #refused: string | undefined
  #attempted = false
  #watcher: SecretWatcher | undefined
  /** What the last successful read kept of the named files: their problems, by path. */
  #kept: ReadonlyMap<string, string> = new Map()
  #rebuild = false
  #closed = false

  constructor (options: ProfilesWatchOptions) {
    this.#options = options
    this.#path = options.description.file
    this.#named = namedFiles(options.description)
    const now = options.clock.wallNow()
    for (const path of [this.#path, ...this.#named.keys()]) this.#loaded.set(path, { loadedAtWallMs: now, generation: 1 })
  }

  start (): void {
    // The texts the start description was read from: a change from them is what counts.
    const read = this.#read()
    if (!('problem' in read)) this.#texts = read.texts
    else this.#refuse(read.problem)
    this.#watch()
  }

  reload (): void {
    this.#watcher?.reload()
    this.#rewatch()
  }

  status (): Record<string, unknown> {
    const result: Record<string, unknown> = {}
    for (const [path, name] of [[this.#path, FILE], ...this.#named] as const) {
      const loaded = this.#loaded.get(path) as Loaded
      result[name] = { loadedAt: new Date(loaded.loadedAtWallMs).toISOString(), generation: loaded.generation }
    }
    return result
  }

  close (): void {
    this.#closed = true
    this.#watcher?.close()
  }

  #watch (): void {
    const files: WatchedFile[] = [{ name: FILE, path: this.#path, maxBytes: MAX_CA_FILE_BYTES, apply: (text) => this.#changed(this.#path, text) }]
    for (const [path, name] of this.#named) files.push({ name, path, maxBytes: MAX_SECRET_FILE_BYTES, apply: (text) => this.#changed(path, text) })
    const { clock, log, pollMs } = this.#options
    this.#watcher = createSecretWatcher({
      files,
      pollMs,
      clock,
      log,
      onReload: (_name, result) => this.#report(result),
      afterPass: () => this.#afterPass()
    })
    this.#watcher.start()
  }

  /** The files named changed with the description applied: watch the new set (once the current pass is over). */
  #rewatch (): void {
    if (!this.#rebuild || this.#closed) return
    this.#rebuild = false
    this.#watcher?.close()
    this.#watch()
  }

  #report (result: ReloadResult): void {
    try {
      this.#options.onReload?.(FILE, result)
    } catch (err) {
      this.#options.log.warn({ err }, 'onReload hook threw; ignored')
    }
  }

  /**
   * A watched file's text changed. The whole description is read again; what the watcher logs and
   * counts is the refusal of this file (a refused profiles file, or a named file that kept its last
   * good text); an applied change is logged once, by #attempt.
   */
  #changed (path: string, text: string): ApplyOutcome {
    if (this.#refused === undefined && this.#texts?.get(path) === text) return 'unchanged'
    const before = this.#refused
    const refused = this.#attempt()
    // A refusal is warned about once, however many files or passes meet it again.
    if (refused !== undefined) return refused.problem === before ? 'unchanged' : refused
    const kept = this.#kept.get(path)
    return kept === undefined ? 'unchanged' : { problem: kept }
  }

  /** Reads the description again and applies it when it changed; a refusal, or undefined. */
  #attempt (): { problem: string } | undefined {
    this.#attempted = true
    const read = this.#read()
    if ('problem' in read) {
      this.#refused = read.problem
      return read
    }
    this.#refused = undefined
    this.#kept = read.kept
    if (this.#texts !== undefined && fingerprint(read.texts) === fingerprint(this.#texts)) return undefined
    this.#use(read)
    return undefined
  }

  #read (): ProfilesRead | { problem: string } {
    const lastGood = new Map<string, string>()
    for (const path of this.#named.keys()) {
      const text = this.#texts?.get(path)
      if (text !== undefined) lastGood.set(path, text)
    }
    const texts = new Map<string, string>()
    const kept = new Map<string, string>()
    try {
      const environment = this.#environment(texts, kept)
      const read = readProfiles(this.#path, environment, lastGood)
      return { description: read.description, texts: new Map([...read.texts, ...texts]), kept: new Map([...read.kept, ...kept]) }
    } catch (err) {
      // Problems name the profile and the field, never a key, a digest or a credential. Anything else is
      // a bug, which must not stop the proxy either: its type alone is told, as its message may quote a value.
      return {
        problem: err instanceof ConfigError
          ? `refused as it would be at start: ${err.problems.join('; ')}`
          : `could not be checked (${(err as Error).name})`
      }
    }
  }

  /**
   * The environment with its credential files read again (§10): one that is now empty, unreadable or
   * invalid keeps its last good value. Their texts and any kept go with the profiles file's.
   */
  #environment (texts: Map<string, string>, kept: Map<string, string>): ProfilesEnvironment {
    let environment = this.#options.environment
    for (const [name, field] of ENVIRONMENT_FILES) {
      const path = environment.secretFiles[name]
      if (path === undefined) continue
      const read = readSecretFile(name, path, MAX_SECRET_FILE_BYTES)
      const parsed = read.ok ? parseCredential(name, read.value.text) : read
      if (!parsed.ok) kept.set(path, parsed.problem)
      // With the variable's file given, loadConfig() read its value at start.
      const value = parsed.ok ? parsed.value : this.#texts?.get(path) ?? environment[field] as string
      texts.set(path, value)
      environment = { ...environment, [field]: value }
    }
    return environment
  }

  #use (read: ProfilesRead): void {
    const { description, texts } = read
    const before = this.#texts
    this.#options.apply(description)
    const named = namedFiles(description)
    const now = this.#options.clock.wallNow()
    const changed: string[] = []
    for (const [path, name] of [[this.#path, FILE], ...named] as const) {
      const loaded = this.#loaded.get(path)
      if (loaded !== undefined && before?.get(path) === texts.get(path)) continue
      changed.push(name)
      this.#loaded.set(path, { loadedAtWallMs: now, generation: (loaded?.generation ?? 0) + 1 })
    }
    this.#rebuild = [...named].join('\n') !== [...this.#named].join('\n')
    this.#named = named
    this.#texts = texts
    this.#options.log.info({ secret: FILE, changed, profiles: description.profiles.size }, `${FILE} applied (changed: ${changed.join(', ')})`)
    this.#report('applied')
  }

  #refuse (problem: string): void {
    this.#refused = problem
    this.#options.log.warn({ secret: FILE, problem }, `${FILE} was ignored: ${problem}; the last good profiles stay in use`)
    this.#report('ignored')
  }

  /**
   * After each pass: a description refused earlier is tried again even when no file changed (a file
   * it names may exist now); a new refusal is warned about once.
   */
  #afterPass (): void {
    const attempted = this.#attempted
    this.#attempted = false
    if (!attempted && this.#refused !== undefined) {
      const before = this.#refused
      const refused = this.#attempt()
      this.#attempted = false
      if (refused !== undefined && refused.problem !== before) this.#refuse(refused.problem)
    }
    // Not from inside the watcher's own pass: it re-arms its poll after this returns.
    if (this.#rebuild) queueMicrotask(() => this.#rewatch())
  }
}

/** Watches the profiles file and the files it names; start() begins. */
export function watchProfiles (options: ProfilesWatchOptions): ProfilesWatcher {
  return new ProfilesReloader(options)
}
