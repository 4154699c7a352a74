// Re-reads file secrets when they change: events of their directories, a fallback poll, SIGHUP; applies only what changed.
import { watch } from 'node:fs'
import type { FSWatcher } from 'node:fs'
import { dirname } from 'node:path'
import type { Logger } from 'pino'
import type { Clock, TimerHandle } from '../clock.js'
import { readSecretFile } from '../config/secret-files.js'

/**
 * A file event starts a re-read this long after it: a Kubernetes volume update (new folder, new
 * `..data_tmp` link, rename over `..data`, old folder removed) is one burst of events, read once.
 */
export const DEBOUNCE_MS = 100

/** What applying a file's new text did. A problem is one line naming the variable, never quoting the text. */
export type ApplyOutcome = 'applied' | 'unchanged' | { readonly problem: string }

export interface WatchedFile {
  /** The variable that names the file (e.g. `ROECNY_API_KEY_FILE`): logged, the metric's label, the key in /-/status. */
  readonly name: string
  readonly path: string
  /** Larger files are refused. */
  readonly maxBytes: number
  /**
   * Validates the file's trimmed text and puts it in use; 'unchanged' when it means what is already
   * in use (e.g. only a comment changed). Nothing is applied when it returns a problem.
   */
  readonly apply: (text: string) => ApplyOutcome
}

export type ReloadResult = 'applied' | 'ignored'

export interface SecretFileStatus {
  /** ISO wall-clock time the value in use was loaded (at start, or when a change was applied). */
  readonly loadedAt: string
  /** 1 at start, one more for each change applied. */
  readonly generation: number
  /** The last change that was ignored, and why; null when none was. */
  readonly lastIgnored: { readonly at: string, readonly problem: string } | null
}

export interface SecretWatcherOptions {
  readonly files: readonly WatchedFile[]
  /** Fallback re-read period; 0: file events and reload() only. */
  readonly pollMs: number
  readonly clock: Clock
  readonly log: Logger
  /** Told of each change applied or ignored (metrics). */
  readonly onReload?: (name: string, result: ReloadResult) => void
  /** Called after each pass over the files (a file event, a poll, reload()), whatever changed. */
  readonly afterPass?: () => void
}

export interface SecretWatcher {
  /** Reads every file once (a change since start is applied), then watches their directories and polls. */
  start: () => void
  /** Re-reads every file now (SIGHUP). */
  reload: () => void
  /** A file event was seen and its re-read is pending (the debounce runs). */
  reloadScheduled: () => boolean
  /** Per variable: when its value was loaded and its generation; never a value. */
  status: () => Record<string, SecretFileStatus>
  /** Stops watching and polling. Final. */
  close: () => void
}

interface FileState {
  readonly file: WatchedFile
  /** What the last read found: the text, or its problem; a change from it is what counts. */
  seen: string | undefined
  loadedAtWallMs: number
  generation: number
  lastIgnored: SecretFileStatus['lastIgnored']
}

/** Marks a read problem apart from any text a file can hold (texts are trimmed, so never start with a NUL). */
const PROBLEM = '\u0000'

export function createSecretWatcher (options: SecretWatcherOptions): SecretWatcher {
  const { clock, log, pollMs } = options
  const states: FileState[] = options.files.map((file) => ({ file, seen: undefined, loadedAtWallMs: clock.wallNow(), generation: 1, lastIgnored: null }))
  const watchers: FSWatcher[] = []
  let debounce: TimerHandle | undefined
  let poll: TimerHandle | undefined
  let closed = false

  function report (name: string, result: ReloadResult): void {
    try {
      options.onReload?.(name, result)
    } catch (err) {
      log.warn({ err }, 'onReload hook threw; ignored')
    }
  }

  function ignored (state: FileState, problem: string): void {
    state.lastIgnored = Object.freeze({ at: new Date(clock.wallNow()).toISOString(), problem })
    log.warn({ secret: state.file.name, problem }, `${state.file.name} changed but was ignored: ${problem}; the last good value stays in use`)
    report(state.file.name, 'ignored')
  }

  function applyText (state: FileState, text: string): void {
    let outcome: ApplyOutcome
    try {
      outcome = state.file.apply(text)
    } catch (err) {
      // Our own callbacks validate before they apply; a throw is a bug, and a bug must not stop the proxy.
      log.error({ err: { type: (err as Error).name, message: (err as Error).message } }, `${state.file.name}: applying the change failed`)
      outcome = { problem: `${state.file.name} could not be applied` }
    }
    if (outcome === 'unchanged') return
    if (outcome !== 'applied') {
      ignored(state, outcome.problem)
      return
    }
    state.generation++
    state.loadedAtWallMs = clock.wallNow()
    log.info({ secret: state.file.name, generation: state.generation }, `${state.file.name} changed; applied`)
    report(state.file.name, 'applied')
  }

  /** One file: read, compare with the last read, apply what changed. A problem read twice is warned about once. */
  function check (state: FileState): void {
    const { name, path, maxBytes } = state.file
    const read = readSecretFile(name, path, maxBytes)
    const seen = read.ok ? read.value.text : PROBLEM + read.problem
    if (seen === state.seen) return
    state.seen = seen
    if (read.ok) applyText(state, read.value.text)
    else ignored(state, read.problem)
  }

  function reload (): void {
    if (closed) return
    for (const state of states) check(state)
    options.afterPass?.()
  }

  function debounced (): void {
    debounce = undefined
    reload()
  }

  function onEvent (): void {
    debounce ??= clock.setTimer(debounced, DEBOUNCE_MS)
  }

  function polled (): void {
    reload()
    poll = clock.setTimer(polled, pollMs)
  }

  function watchDirectory (dir: string): void {
    function failed (err: NodeJS.ErrnoException): void {
      log.warn({ dir, code: err.code }, pollMs > 0
        ? 'cannot watch a secret directory; its files are re-read every SECRETS_POLL_MS and on SIGHUP'
        : 'cannot watch a secret directory; with SECRETS_POLL_MS=0 its files are re-read on SIGHUP only')
    }
    try {
      // A Kubernetes Secret volume replaces its `..data` link: the file's own inode and mtime need not
      // change, so the directory is watched, not the file. Not persistent: it never holds the process open.
      const watcher = watch(dir, { persistent: false }, onEvent)
      watcher.on('error', failed)
      watchers.push(watcher)
    } catch (err) {
      failed(err as NodeJS.ErrnoException)
    }
  }

  function start (): void {
    reload()
    for (const dir of new Set(options.files.map((file) => dirname(file.path)))) watchDirectory(dir)
    if (pollMs > 0) poll = clock.setTimer(polled, pollMs)
  }

  function status (): Record<string, SecretFileStatus> {
    const result: Record<string, SecretFileStatus> = {}
    for (const state of states) {
      result[state.file.name] = {
        loadedAt: new Date(state.loadedAtWallMs).toISOString(),
        generation: state.generation,
        lastIgnored: state.lastIgnored
      }
    }
    return result
  }

  function close (): void {
    closed = true
    debounce?.cancel()
    poll?.cancel()
    for (const watcher of watchers.splice(0)) watcher.close()
  }

  return { start, reload, reloadScheduled: () => debounce !== undefined, status, close }
}
