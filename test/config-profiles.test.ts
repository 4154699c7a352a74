// PROXY_PROFILES_FILE in the configuration: the environment's credentials optional only with it, its problems named per profile.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'tap'
import type { Test } from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'
import { loadProfilesFor } from '../src/profiles/start.js'

const BASE = { ROECNY_BASE_URL: 'http://127.0.0.1:9' }

function problemsOf (fn: () => unknown): string[] {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

/** Writes the profiles file into the test's own directory, which tap removes after the test. */
function profilesFile (t: Test, text: string): string {
  const dir = t.testdir()
  const path = join(dir, 'profiles.yaml')
  writeFileSync(path, text)
  return path
}

test('without PROXY_PROFILES_FILE the client ID and API key stay required', async (t) => {
  t.same(problemsOf(() => loadConfig(BASE)), ['ROECNY_CLIENT_ID or ROECNY_CLIENT_ID_FILE is required', 'ROECNY_API_KEY or ROECNY_API_KEY_FILE is required'])
  t.equal(loadConfig({ ...BASE, ROECNY_CLIENT_ID: 'c', ROECNY_API_KEY: 'k' }).profilesFile, undefined)
})

test('with PROXY_PROFILES_FILE the environment may leave them out; the profiles file then requires its own files', async (t) => {
  const own = join(t.testdirName, 'id')
  const path = profilesFile(t, `profiles:\n  reporting:\n    keyless: true\n  payments:\n    keyless: false\n    accessKeys: ["${'a'.repeat(64)}"]\n    clientIdFile: ${own}\n`)
  // Beside the profiles file, in the directory profilesFile made.
  writeFileSync(own, 'own-client', { mode: 0o600 })
  const config = loadConfig({ ...BASE, PROXY_PROFILES_FILE: path })
  t.equal(config.profilesFile, path)
  t.equal(config.clientId, '')
  t.equal(config.apiKey, '')
  t.same(problemsOf(() => loadProfilesFor(config)), [
    'ROECNY_CLIENT_ID or ROECNY_CLIENT_ID_FILE is required: profile reporting names no clientIdFile',
    'ROECNY_API_KEY or ROECNY_API_KEY_FILE is required: profiles reporting, payments name no apiKeyFile'
  ])
  // With the environment's credentials every profile has both.
  const full = loadConfig({ ...BASE, PROXY_PROFILES_FILE: path, ROECNY_CLIENT_ID: 'c', ROECNY_API_KEY: 'k' })
  const description = loadProfilesFor(full)
  t.same([...description.profiles.keys()], ['reporting', 'payments'])
  t.equal(description.profiles.get('payments')?.clientId.value, 'own-client')
  t.equal(description.profiles.get('reporting')?.clientId.value, 'c')
})

test('a non-loopback PROXY_HOST without an access key is the profiles file\'s to judge', async (t) => {
  t.match(problemsOf(() => loadConfig({ ...BASE, ROECNY_CLIENT_ID: 'c', ROECNY_API_KEY: 'k', PROXY_HOST: '0.0.0.0' })).join('\n'), /PROXY_HOST/)
  const path = profilesFile(t, 'profiles:\n  local:\n    keyless: true\n')
  const config = loadConfig({ ...BASE, ROECNY_CLIENT_ID: 'c', ROECNY_API_KEY: 'k', PROXY_HOST: '0.0.0.0', PROXY_PROFILES_FILE: path })
  t.match(problemsOf(() => loadProfilesFor(config)), [/^profile local: keyless on a non-loopback PROXY_HOST/])
})

test('PROXY_ACCESS_KEY beside PROXY_PROFILES_FILE is a problem of the profiles file', async (t) => {
  const path = profilesFile(t, 'profiles:\n  local:\n    keyless: true\n')
  const config = loadConfig({ ...BASE, ROECNY_CLIENT_ID: 'c', ROECNY_API_KEY: 'k', PROXY_ACCESS_KEY: 'a-long-access-key-0123456789', PROXY_PROFILES_FILE: path })
  const problems = problemsOf(() => loadProfilesFor(config))
  t.same(problems, ['PROXY_ACCESS_KEY is set beside PROXY_PROFILES_FILE; profiles replace it: give its keys to a profile (accessKeys or accessKeysFile) and unset it'])
  t.notMatch(problems.join('\n'), /a-long-access-key/)
})
