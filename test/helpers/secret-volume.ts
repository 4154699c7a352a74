// Writes secret files the way kubelet's atomic writer updates a Secret volume, or in place as an editor would.
import { mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { SecretWatcher } from '../../src/secrets/watch.js'
import type { RunningProxy } from '../../src/server.js'

let folders = 0

/**
 * Kubernetes' AtomicWriter: each version lives in a new `..<timestamp>` folder; `..data` links to
 * the current one and each key is a link `key -> ..data/key`. An update writes the new folder, links
 * `..data_tmp` to it and renames that over `..data` (one atomic step), then removes the old folder:
 * the path of a key never changes, nor does the link's inode or mtime.
 */
export function writeSecretVolume (dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true })
  const folder = `..2025_04_25_07_00_00.${String(++folders).padStart(9, '0')}`
  mkdirSync(join(dir, folder), { mode: 0o755 })
  for (const [key, text] of Object.entries(files)) writeFileSync(join(dir, folder, key), text, { mode: 0o600 })
  let previous: string | undefined
  try {
    previous = readlinkSync(join(dir, '..data'))
  } catch {
    previous = undefined
  }
  symlinkSync(folder, join(dir, '..data_tmp'))
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  for (const key of Object.keys(files)) {
    try {
      symlinkSync(join('..data', key), join(dir, key))
    } catch {
      // The key's link exists from an earlier version; it points through ..data and stays.
    }
  }
  if (previous !== undefined) rmSync(join(dir, previous), { recursive: true })
}

/** The proxy's secret watcher; throws when it has none (every secret came from the environment). */
export function watcherOf (proxy: RunningProxy): SecretWatcher {
  if (proxy.secrets === undefined) throw new Error('the file secrets are not watched')
  return proxy.secrets
}
