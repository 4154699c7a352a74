// Every shell command README.md and docs/*.md show runs as written, or, where it needs Docker or a cluster, names what exists.
//
// How a shell block (```sh, ```bash, ```shell) of the docs is read:
// - `curl` lines are run against `roecny-auth-proxy demo` (127.0.0.1:8080 becomes the demo's
//   address) and must exit 0;
// - `npm`, `npx`, `node`, `bash`, `sh` and the example clients' runtimes name a script, command or
//   file that exists;
// - `docker` and `kubectl` lines are checked as written: well-formed flags, files that exist, and
//   this package's image tagged with its version. A block that uses either needs an engine or a
//   cluster, so nothing in it runs and its other commands are the reader's own;
// - a block whose fence says `placeholder` (```sh placeholder) holds values the reader replaces
//   (a base URL, secret paths): nothing in it runs, its `docker` and `kubectl` lines are still checked;
// - any other command fails the test: run it here, or mark its block.
// Every shell block must also parse (`sh -n`).
import { execFile, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { built, spawnScript } from './helpers/cli.js'
import { blocks, pages, ROOT, SHELL_LANGUAGES, shellLines, splitLine } from './helpers/docs.js'
import type { Block, Command } from './helpers/docs.js'

const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string, version: string, scripts: Record<string, string>, bin: Record<string, string> }
const IMAGE = `${PACKAGE.name}:${PACKAGE.version}`
const CLI_COMMANDS = new Set(['serve', 'demo', 'mock', 'check', 'hash-key', '--help', '-h', '--version', '-v'])
const NPM_COMMANDS = new Set(['ci', 'test', 'start', 'pack'])
/** Runtimes that run one file of this project, named as their first argument that is not a flag. */
const FILE_RUNNERS = new Set(['node', 'bash', 'sh', 'php', 'python3', 'java', 'mcs', 'mono'])
const DOCKER_COMMANDS = new Set(['build', 'run', 'push', 'compose', 'stop', 'start', 'restart', 'kill', 'logs', 'exec', 'ps', 'inspect', 'rm', 'cp', 'image', 'network', 'volume', 'secret', 'service', 'tag', 'save', 'load'])
const KUBECTL_COMMANDS = new Set(['apply', 'create', 'delete', 'get', 'describe', 'logs', 'rollout', 'wait', 'port-forward', 'exec', 'diff', 'kustomize', 'scale', 'patch', 'label', 'annotate', 'top', 'config', 'cp', 'explain', 'auth', 'version'])
/** kubectl's global options that take a value, given before the command. */
const KUBECTL_GLOBALS = new Set(['-n', '--namespace', '--context', '--kubeconfig', '--cluster', '--user'])
/** docker run's options that take no value. */
const DOCKER_RUN_SWITCHES = new Set(['--rm', '-d', '--detach', '-i', '--interactive', '-t', '--tty', '-it', '--init', '--read-only', '--privileged'])
const FLAG = /^--?[A-Za-z][\w-]*(=.*)?$/s
/** A command runs at most this long: a curl against the demo takes milliseconds. */
const COMMAND_DEADLINE_MS = 30_000

const SHELL_BLOCKS = pages().flatMap(blocks).filter((block) => SHELL_LANGUAGES.has(block.language))

function where (block: Block): string {
  return `${block.page}:${block.line}`
}

/** Where a path the docs name lives: `dist/<x>.js` is what `npm run build` makes of `<x>.ts`. */
function sourceOf (path: string): string {
  const compiled = /^dist\/(.+)\.js$/.exec(path)
  return compiled === null ? path : `${compiled[1] as string}.ts`
}

function exists (path: string): boolean {
  return existsSync(join(ROOT, sourceOf(path)))
}

/** Problems of one command: an empty list when it names only what exists. */
function staticProblems (command: Command): string[] {
  const [program = '', ...args] = command.words
  const problems: string[] = []
  const flags = args.filter((arg) => arg.startsWith('-') && arg !== '-' && arg !== '--')
  for (const flag of flags) if (!FLAG.test(flag)) problems.push(`malformed flag ${flag}`)
  if (program === 'npm') {
    const [sub = '', name] = args
    if (sub === 'run') {
      if (name === undefined || !(name in PACKAGE.scripts)) problems.push(`npm run ${name ?? ''}: no such script in package.json`)
    } else if (!NPM_COMMANDS.has(sub)) {
      problems.push(`npm ${sub}: not a command the docs use`)
    }
  } else if (program === 'npx') {
    const [bin = '', sub] = args
    if (!(bin in PACKAGE.bin)) problems.push(`npx ${bin}: not this package's command`)
    if (sub !== undefined && !CLI_COMMANDS.has(sub)) problems.push(`${bin} ${sub}: no such command`)
  } else if (FILE_RUNNERS.has(program)) {
    const file = args.find((arg) => !arg.startsWith('-'))
    if (file === undefined || !exists(file)) problems.push(`${program} ${file ?? ''}: no such file`)
  } else if (program === 'docker') {
    problems.push(...dockerProblems(args))
  } else if (program === 'kubectl') {
    problems.push(...kubectlProblems(args))
  } else {
    problems.push(`${program}: not a command this test knows`)
  }
  return problems
}

/** This package's image, under any registry, must carry the package's version as its tag. */
function imageProblem (image: string | undefined): string[] {
  const name = image?.split('/').at(-1)
  if (name === undefined || name.split(':')[0] !== PACKAGE.name) return []
  return name === IMAGE ? [] : [`image ${image as string}: tag it ${IMAGE}, the package's version`]
}

function dockerProblems (args: string[]): string[] {
  const [sub = '', ...rest] = args
  if (!DOCKER_COMMANDS.has(sub)) return [`docker ${sub}: not a command the docs use`]
  const problems: string[] = []
  if (sub === 'build') {
    const tag = rest[rest.findIndex((arg) => arg === '-t' || arg === '--tag') + 1]
    if (tag === undefined || !rest.includes('-t')) problems.push('docker build: name the image with -t')
    problems.push(...imageProblem(tag))
    const context = rest.at(-1) as string
    if (!exists(context)) problems.push(`docker build: no context ${context}`)
  }
  if (sub === 'push' || sub === 'tag') for (const image of rest) problems.push(...imageProblem(image))
  if (sub === 'run') {
    let image: string | undefined
    for (let i = 0; i < rest.length && image === undefined; i++) {
      const arg = rest[i] as string
      if (!arg.startsWith('-')) image = arg
      else if (!arg.includes('=') && !DOCKER_RUN_SWITCHES.has(arg)) i++
    }
    if (image === undefined) problems.push('docker run: no image')
    problems.push(...imageProblem(image))
  }
  if (sub === 'compose') {
    const file = rest[rest.indexOf('-f') + 1]
    if (!exists(rest.includes('-f') ? file as string : 'docker-compose.yml')) problems.push(`docker compose: no file ${file ?? 'docker-compose.yml'}`)
  }
  return problems
}

function kubectlProblems (args: string[]): string[] {
  const sub = args.find((arg, i) => !arg.startsWith('-') && !KUBECTL_GLOBALS.has(args[i - 1] as string)) ?? ''
  if (!KUBECTL_COMMANDS.has(sub)) return [`kubectl ${sub}: not a command the docs use`]
  const problems: string[] = []
  args.forEach((arg, i) => {
    const inline = /^(?:--filename|--kustomize|-f|-k)=(.+)$/.exec(arg)
    const path = inline?.[1] ?? (['-f', '-k', '--filename', '--kustomize'].includes(arg) ? args[i + 1] : undefined)
    if (path !== undefined && path !== '-' && !exists(path)) problems.push(`kubectl ${sub}: no file ${path}`)
    if (/^(?:--image=)?roecny-auth-proxy:/.test(arg)) problems.push(...imageProblem(arg.replace(/^--image=/, '')))
  })
  return problems
}

/** The demo's base URL, as the demo prints it in its first curl line. */
async function startDemo (t: Test): Promise<string> {
  const demo = spawnScript(t, built('cli'), ['demo'], { PROXY_PORT: '0', LOG_LEVEL: 'warn' })
  const line = await demo.line(/^ {2}curl http:\/\/127\.0\.0\.1:\d+\//)
  return (/http:\/\/127\.0\.0\.1:\d+/.exec(line) as RegExpExecArray)[0]
}

function run (line: string): Promise<{ code: number | null, output: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', line], { cwd: ROOT, timeout: COMMAND_DEADLINE_MS }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : (typeof error.code === 'number' ? error.code : null), output: `${stdout}${stderr}` })
    })
  })
}

t.test('the docs show shell blocks, and each parses', async (t) => {
  t.ok(SHELL_BLOCKS.length >= 10, `${SHELL_BLOCKS.length} shell blocks found`)
  for (const block of SHELL_BLOCKS) {
    const parsed = spawnSync('sh', ['-n'], { input: block.text })
    t.equal(parsed.status, 0, `${where(block)} parses: ${parsed.stderr.toString()}`)
  }
})

t.test('npm, npx, node, docker and kubectl lines name what exists; other commands are run or marked', async (t) => {
  let checked = 0
  for (const block of SHELL_BLOCKS) {
    const lines = shellLines(block.text)
    const commands = lines.flatMap((line) => line.commands).filter((command) => command.words.length > 0)
    const needsEngine = commands.some((command) => command.words[0] === 'docker' || command.words[0] === 'kubectl')
    const lenient = needsEngine || block.flags.includes('placeholder')
    for (const command of commands) {
      if (command.words[0] === 'curl') continue
      const problems = staticProblems(command)
      const known = problems.filter((problem) => !problem.endsWith('not a command this test knows'))
      t.same(lenient ? known : problems, [], `${where(block)}: ${command.words.join(' ')}`)
      checked++
    }
  }
  t.ok(checked >= 20, `${checked} commands checked`)
})

t.test('the checks refuse what does not exist', async (t) => {
  const cases: Array<{ line: string, problem: string }> = [
    { line: 'npm run no-such-script', problem: 'npm run no-such-script: no such script in package.json' },
    { line: 'npm publish', problem: 'npm publish: not a command the docs use' },
    { line: 'npx roecny-auth-proxy launch', problem: 'roecny-auth-proxy launch: no such command' },
    { line: 'npx other-tool', problem: 'npx other-tool: not this package\'s command' },
    { line: 'node dist/src/nothing.js', problem: 'node dist/src/nothing.js: no such file' },
    { line: 'docker build -t roecny-auth-proxy:0.0.1 .', problem: `image roecny-auth-proxy:0.0.1: tag it ${IMAGE}, the package's version` },
    { line: 'docker build .', problem: 'docker build: name the image with -t' },
    { line: 'docker build -t x nowhere', problem: 'docker build: no context nowhere' },
    { line: 'docker run --rm -e A=1 roecny-auth-proxy demo', problem: `image roecny-auth-proxy: tag it ${IMAGE}, the package's version` },
    { line: 'docker run --rm', problem: 'docker run: no image' },
    { line: 'docker pull x', problem: 'docker pull: not a command the docs use' },
    { line: 'docker push registry.example.com/roecny-auth-proxy:0.1.0', problem: `image registry.example.com/roecny-auth-proxy:0.1.0: tag it ${IMAGE}, the package's version` },
    { line: 'docker compose -f nowhere.yml up', problem: 'docker compose: no file nowhere.yml' },
    { line: 'docker run ---x y', problem: 'malformed flag ---x' },
    { line: 'kubectl apply -f deploy/nowhere.yaml', problem: 'kubectl apply: no file deploy/nowhere.yaml' },
    { line: 'kubectl apply --kustomize=deploy/nowhere', problem: 'kubectl apply: no file deploy/nowhere' },
    { line: 'kubectl -n payments apply -k deploy/nowhere', problem: 'kubectl apply: no file deploy/nowhere' },
    { line: 'kubectl set image deploy/x proxy=roecny-auth-proxy:0.0.1', problem: 'kubectl set: not a command the docs use' },
    { line: 'kubectl create deployment x --image=roecny-auth-proxy:0.0.1', problem: `image roecny-auth-proxy:0.0.1: tag it ${IMAGE}, the package's version` },
    { line: 'make all', problem: 'make: not a command this test knows' }
  ]
  for (const { line, problem } of cases) {
    const [command] = splitLine(line).commands
    t.ok(staticProblems(command as Command).includes(problem), `${line}: ${problem}`)
  }
  t.same(staticProblems(splitLine(`docker run -d --name p -v "$PWD/a:/b:ro" ${IMAGE} serve`).commands[0] as Command), [], 'an image after options with values is found')
  t.same(staticProblems(splitLine('kubectl apply -f - ').commands[0] as Command), [], 'stdin is a file kubectl reads')
  t.same(staticProblems(splitLine(`docker tag ${IMAGE} registry.example.com/${IMAGE}`).commands[0] as Command), [], 'the image under a registry keeps its tag')
  t.same(staticProblems(splitLine('docker run --rm roecny-auth-proxy-tools').commands[0] as Command), [], 'another image is not this package\'s')
})

t.test('shell lines are split as the shell splits them', async (t) => {
  const cases: Array<{ line: string, commands: Array<{ assignments: string[], words: string[] }>, text: string }> = [
    { line: 'npm ci && npm run demo     # a comment', text: 'npm ci && npm run demo', commands: [{ assignments: [], words: ['npm', 'ci'] }, { assignments: [], words: ['npm', 'run', 'demo'] }] },
    { line: 'PATH="$(bash .ci/node24.sh):$PATH" npm test', text: 'PATH="$(bash .ci/node24.sh):$PATH" npm test', commands: [{ assignments: ['PATH=$(bash .ci/node24.sh):$PATH'], words: ['npm', 'test'] }] },
    { line: 'curl -d \'{"a":1}\' x#y 2>&1 | grep a; echo \\#', text: 'curl -d \'{"a":1}\' x#y 2>&1 | grep a; echo \\#', commands: [{ assignments: [], words: ['curl', '-d', '{"a":1}', 'x#y', '2>&1'] }, { assignments: [], words: ['grep', 'a'] }, { assignments: [], words: ['echo', '#'] }] },
    { line: 'A=1 B="x \\" y"', text: 'A=1 B="x \\" y"', commands: [{ assignments: ['A=1', 'B=x " y'], words: [] }] },
    { line: 'x=$(echo a) ; sleep 1 &', text: 'x=$(echo a) ; sleep 1 &', commands: [{ assignments: ['x=$(echo a)'], words: [] }, { assignments: [], words: ['sleep', '1'] }] }
  ]
  for (const { line, commands, text } of cases) t.same(splitLine(line), { text, commands }, line)
  t.same(shellLines('# only a comment\n\ndocker run \\\n  --rm x\n').map((line) => line.text), ['docker run --rm x'], 'continuations are joined, comments and blank lines dropped')
})

t.test('every curl line runs against the demo as written', async (t) => {
  const base = await startDemo(t)
  const runs: Array<{ shown: string, line: string, result: Promise<{ code: number | null, output: string }> }> = []
  for (const block of SHELL_BLOCKS) {
    if (block.flags.includes('placeholder')) continue
    const lines = shellLines(block.text)
    if (lines.some((line) => line.commands.some((command) => command.words[0] === 'docker' || command.words[0] === 'kubectl'))) continue
    for (const line of lines.filter((line) => line.commands.some((command) => command.words[0] === 'curl'))) {
      // Started together: each is a process of its own, and the demo serves them side by side.
      runs.push({ shown: `${where(block)}: ${line.text}`, line: line.text, result: run(line.text.replace(/http:\/\/(127\.0\.0\.1|localhost):8080/g, base)) })
    }
  }
  for (const { shown, line, result } of runs) {
    t.match(line, /http:\/\/(127\.0\.0\.1|localhost):8080\//, `${shown} calls the proxy on its documented address`)
    const { code, output } = await result
    t.equal(code, 0, code === 0 ? shown : `${shown}\n${output}`)
    t.notMatch(output, '"source":"roecny-auth-proxy"', `${shown} gets no error of the proxy's own`)
  }
  t.ok(runs.length >= 5, `${runs.length} curl lines ran`)
})
