// A fresh node process that runs a few lines and prints what it found: how tests see what loading a module does to a process.
import { spawn } from 'node:child_process'
import { once } from 'node:events'

/** Real time a probe may take (it compiles TypeScript under the runner's loader on a loaded machine) before it is killed. */
export const PROBE_DEADLINE_MS = 240_000

/**
 * Runs `script`, an ES module in which `require` resolves from the working directory, in a new node
 * with the runner's own options (loader, coverage), then `flags`. Resolves with its standard output once
 * it exits with 0; rejects with its standard error when it fails, or kills it at PROBE_DEADLINE_MS.
 */
export async function probeNode (script: string, flags: readonly string[] = []): Promise<string> {
  const prelude = 'import { createRequire } from \'node:module\'; const require = createRequire(import.meta.url);'
  const child = spawn(process.execPath, [...process.execArgv, ...flags, '--input-type=module', '-e', `${prelude}\n${script}`], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const deadline = setTimeout(() => child.kill('SIGKILL'), PROBE_DEADLINE_MS)
  const [code, signal] = await once(child, 'close') as [number | null, NodeJS.Signals | null]
  clearTimeout(deadline)
  if (code !== 0) throw new Error(`the probe ended with ${signal ?? `exit code ${String(code)}`}: ${stderr}`)
  return stdout
}
