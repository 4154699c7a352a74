// The program as tests run it: main() in this process with its output captured, or a script of src/ as a real child process.
import { spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { main } from '../../src/cli.js'
import { VARIABLES } from '../../src/config/variables.js'
import type { Teardown } from './stack.js'

type Env = Record<string, string | undefined>

/**
 * Real time a child may take to start, answer and exit before the test is called broken: generous,
 * since a child compiling TypeScript on a loaded machine takes a minute, yet short of tap's timeout.
 */
export const CHILD_DEADLINE_MS = 240_000

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SOURCES = join(ROOT, 'src')

export interface Output {
  code: number | null
  stdout: string
  stderr: string
}

/** One invocation of main() in this process, with its exit code and everything it printed. */
export async function runMain (argv: string[], env: Env = {}): Promise<Output & { code: number }> {
  let stdout = ''
  let stderr = ''
  const code = await main(argv, env, { stdout: (text) => { stdout += text }, stderr: (text) => { stderr += text } })
  return { code, stdout, stderr }
}

/** How a child runs a script of src/: the file, and node's options before it. */
export interface Script {
  readonly path: string
  readonly nodeArgs: readonly string[]
}

type ScriptName = 'cli' | 'healthcheck'

/** The TypeScript source under the runner's loader: slow to start (it compiles as it loads), but its coverage counts. */
export function source (name: ScriptName): Script {
  return { path: join(SOURCES, `${name}.ts`), nodeArgs: process.execArgv }
}

let build: string | undefined

/** Every file of src/ compiled to JavaScript once per test process, below .tap/ (so node_modules and package.json resolve as from src/). */
function buildOnce (): string {
  if (build !== undefined) return build
  mkdirSync(join(ROOT, '.tap'), { recursive: true })
  const out = mkdtempSync(join(ROOT, '.tap', 'build-'))
  process.on('exit', () => rmSync(out, { recursive: true, force: true }))
  for (const entry of readdirSync(SOURCES, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.c?ts$/.test(entry.name)) continue
    const file = join(entry.parentPath, entry.name)
    // A .cts module is CommonJS and ships as .cjs, as tsc builds it.
    const commonJs = file.endsWith('.cts')
    const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: commonJs ? ts.ModuleKind.CommonJS : ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 }
    })
    const target = join(out, 'src', relative(SOURCES, file)).replace(/\.ts$/, '.js').replace(/\.cts$/, '.cjs')
    mkdirSync(dirname(target), { recursive: true })
    writeFileSync(target, outputText)
  }
  build = out
  return out
}

/** The script compiled to JavaScript, as it ships: starts in a fraction of the source's time; no coverage. */
export function built (name: ScriptName): Script {
  return { path: join(buildOnce(), 'src', `${name}.js`), nodeArgs: [] }
}

/** The runner's environment (loader, coverage) without any variable the program reads, then `env`. */
export function childEnv (env: Env): Env {
  const base: Env = {}
  for (const [name, value] of Object.entries(process.env)) if (!(name in VARIABLES)) base[name] = value
  return { ...base, ...env }
}

export interface Child {
  process: ChildProcessWithoutNullStreams
  stdout: string[]
  stderr: string[]
  /** The first stdout line matching `pattern`; rejects when the child exits first or the deadline passes. */
  line: (pattern: RegExp) => Promise<string>
  /** The exit code (null when a signal ended it); rejects, and the child is killed, once the deadline passes. */
  exited: Promise<number | null>
}

/** Starts `script` with `args` as a child process; it is killed, if still running, when `t` ends. */
export function spawnScript (t: Teardown, script: Script, args: string[], env: Env = {}): Child {
  // `--` ends node's own options: node otherwise pre-scans script arguments for --env-file and
  // exits 9 on a missing file before the CLI runs (nodejs/node#54232).
  return spawnCommand(t, process.execPath, [...script.nodeArgs, '--', script.path, ...args], { env: childEnv(env), what: `${relative(ROOT, script.path)} ${args.join(' ')}`.trim() })
}

/**
 * Starts any command as a child process (a script through its shebang, npm, npx), with `node` on the
 * PATH the one running the tests; it is killed, if still running, when `t` ends.
 */
export function spawnCommand (t: Teardown, file: string, args: string[], options: { env: Env, cwd?: string, what?: string }): Child {
  const env = { ...options.env, PATH: `${dirname(process.execPath)}:${options.env.PATH ?? ''}` }
  const child = spawn(file, args, { env, cwd: options.cwd, stdio: 'pipe' })
  const what = options.what ?? `${file} ${args.join(' ')}`
  const stdout: string[] = []
  const stderr: string[] = []
  const waiters: Array<{ pattern: RegExp, resolve: (line: string) => void }> = []
  createInterface({ input: child.stdout }).on('line', (line) => {
    stdout.push(line)
    for (const waiter of waiters.filter((w) => w.pattern.test(line))) {
      waiters.splice(waiters.indexOf(waiter), 1)
      waiter.resolve(line)
    }
  })
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line))
  // 'close' comes after the pipes have ended, so every output line has been seen by then.
  const closed = once(child, 'close').then(([code]) => code as number | null)
  const exited = new Promise<number | null>((resolve, reject) => {
    const deadline = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${what} did not exit within ${CHILD_DEADLINE_MS} ms; stderr: ${stderr.join('\n')}`))
    }, CHILD_DEADLINE_MS)
    closed.then((code) => {
      clearTimeout(deadline)
      resolve(code)
    }, reject)
  })
  // A test that never awaits the exit still fails on its own assertions, not on an unhandled rejection.
  exited.catch(() => {})
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGKILL')
    await closed
  })
  function line (pattern: RegExp): Promise<string> {
    const seen = stdout.find((l) => pattern.test(l))
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      waiters.push({ pattern, resolve })
      exited.then((code) => reject(new Error(`${what} exited with ${code} before printing ${pattern}: ${stderr.join('\n')}`)), reject)
    })
  }
  return { process: child, stdout, stderr, line, exited }
}

/** Runs `script` with `args` to its exit: the code and everything it printed, line ends as printed but the last. */
export async function runScript (t: Teardown, script: Script, args: string[], env: Env = {}): Promise<Output> {
  return await outputOf(spawnScript(t, script, args, env))
}

/** Waits for the child's exit: the code and everything it printed, line ends as printed but the last. */
export async function outputOf (child: Child): Promise<Output> {
  const code = await child.exited
  return { code, stdout: child.stdout.join('\n'), stderr: child.stderr.join('\n') }
}

/**
 * The build laid out as the package ships (package.json, dist/src/ with an executable cli.js), its
 * node_modules found above it: the CLI started as users start it (the bin, npx, npm start).
 */
export function builtPackage (): string {
  const root = buildOnce()
  if (!existsSync(join(root, 'package.json'))) {
    copyFileSync(join(ROOT, 'package.json'), join(root, 'package.json'))
    mkdirSync(join(root, 'dist'))
    symlinkSync('../src', join(root, 'dist', 'src'))
    chmodSync(join(root, 'src', 'cli.js'), 0o755)
  }
  return root
}
