// `npm run bench [-- --quick | --rounds N | --profile | --compare CLI | --shaped | --log-warn | --two-profiles]`: the proxy
// side by side with direct, bare Fastify (without and with SPEC §8's access line), the floor and nginx, interleaved
// round by round, every Node contender on the node that runs the bench; prints a table and the ratios the targets use,
// and writes bench/results/latest.json (quick: quick.json).
import { execFileSync } from 'node:child_process'
import { createReadStream, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, constants, cpus, loadavg, release, setPriority, totalmem } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { LOAD_PATH } from './common.js'
import { direct, FASTIFY, FASTIFY_LOGGED, FLOOR, PROFILE_CALLERS, profilesBuild, PROXY_MALLOC_ARENA_MAX, PROXY_NODE_OPTIONS, quietBuild, scratchDir, servesProfiles, shapedBuild, startNginx, startProxy, startServer, startUpstream, thisBuild } from './contenders.js'
import type { Contender, Placement, ProxyBuild, ProxyProcess } from './contenders.js'
import { coldBurst, serverTimeToReady, serverTransfer, timeToReady, transfer } from './extras.js'
import { profile } from './profile.js'
import { load, warm } from './load.js'
import type { LoadResult } from './load.js'
import { hasTaskset, pin, rssBytes, total, which } from './proc.js'
import { contenderTable, cpuCost, cpuRatio, MB, mb, MiB, mib, ms, perRequestCpu, plain, ratio, signedMb, signedMs, summarise, targetTable } from './report.js'
import type { ContenderFigures, Ratio, RoundFigures, Target } from './report.js'

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    // Where the CPU goes: the proxy (or --target floor) alone under load with --cpu-prof.
    profile: { type: 'boolean', default: false },
    target: { type: 'string', default: 'proxy' },
    // --profile at a fixed rate over 10 connections (what the CPU per request at 1,000 req/s measures).
    rate: { type: 'string' },
    // Experiments with V8 flags for the proxy; printed with the results, which are then not the default.
    'proxy-node-flags': { type: 'string', default: '' },
    // Before/after: another build's cli.js (e.g. a copy of dist/ made before a change) runs as one more contender.
    compare: { type: 'string' },
    // What the upstream limits cost: this build once more, with limits set too high to be reached.
    shaped: { type: 'boolean', default: false },
    // What the access log costs: this build once more at LOG_LEVEL=warn (no line per request).
    'log-warn': { type: 'boolean', default: false },
    // What profiles cost: this build once more with two profiles (PROXY_PROFILES_FILE), the load alternating their keys.
    'two-profiles': { type: 'boolean', default: false }
  }
})
const proxyFlags = args['proxy-node-flags'] ?? ''
const build = thisBuild(proxyFlags)

const quick = args.quick === true
const plan = {
  rounds: Number(args.rounds ?? (quick ? 1 : 3)),
  warmS: quick ? 0.25 : 2,
  c50S: Number(args.duration ?? (quick ? 1 : 10)),
  c1S: quick ? 0.5 : 5,
  fixedRate: 1000,
  fixedS: quick ? 0.5 : 5,
  transferBytes: quick ? 16 * MiB : 1024 * MiB,
  burst: 1000,
  burstLoginDelayMs: 300,
  readyRuns: quick ? 1 : 5
}

/** The bench's Node servers besides the proxy, in the order they are measured. */
const SERVERS = [FASTIFY, FASTIFY_LOGGED, FLOOR]

const resultsDir = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'bench', 'results')

function say (text: string): void {
  process.stdout.write(`${text}\n`)
}

function machine (): Record<string, string | number> {
  let nginxVersion = 'not installed'
  const nginx = which('nginx')
  if (nginx !== undefined) {
    // nginx -v prints its version on stderr.
    nginxVersion = execFileSync('sh', ['-c', `"${nginx}" -v 2>&1`], { encoding: 'utf8' }).trim()
  }
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
    nginx: nginxVersion.replace(/^nginx version: /, '')
  }
}

/**
 * The bench and every process it starts (they inherit it) take the highest scheduling priority
 * where allowed, so that other work on the machine disturbs the figures less.
 */
function raisePriority (): string {
  try {
    setPriority(constants.priority.PRIORITY_HIGHEST)
    return 'priority: nice -20 for the bench and everything it starts'
  } catch {
    return 'priority: default (raising it needs root or CAP_SYS_NICE)'
  }
}

/** Where things run: with 2+ cores, the process under test alone on core 0, everything else on core 1. */
function placeProcesses (dir: string): { placement: Placement, note: string } {
  const cores = availableParallelism()
  if (cores < 2) return { placement: { core: undefined, dir }, note: 'pinning: none (1 core): the load generator and the upstream share the core with the process under test' }
  if (!hasTaskset()) return { placement: { core: undefined, dir }, note: 'pinning: none (taskset not found); figures are noisier than a pinned run' }
  pin(process.pid, 1)
  return {
    placement: { core: 0, dir },
    note: 'pinning (taskset): the process under test alone on core 0; the load generator (autocannon) and the upstream on core 1'
  }
}

/** Counts access-log lines (`"msg":"request"`) in the proxy's log: proof it logged every request at info. */
async function accessLogLines (file: string): Promise<number> {
  let lines = 0
  const reader = createInterface({ input: createReadStream(file), crlfDelay: Infinity })
  for await (const line of reader) if (line.includes('"msg":"request"')) lines++
  return lines
}

/** One contender's 50-connection load, after its warm-up. */
async function measureC50 (contender: Contender): Promise<LoadResult> {
  const url = contender.url + LOAD_PATH
  const { headers, alternating, pids } = contender
  await warm(url, 50, plan.warmS, headers, alternating)
  return await load({ url, connections: 50, durationS: plan.c50S, headers, alternating, pids })
}

/** The rest of a contender's round, after every contender's 50-connection load: one connection, then the fixed rate. */
async function measureRest (contender: Contender, c50: LoadResult, directRound: RoundFigures | undefined): Promise<RoundFigures> {
  const url = contender.url + LOAD_PATH
  const { headers, alternating, pids } = contender
  const c1 = await load({ url, connections: 1, durationS: plan.c1S, headers, alternating, pids })
  const fixed = await load({ url, connections: 10, rate: plan.fixedRate, durationS: plan.fixedS, headers, alternating, pids })
  const added = directRound === undefined ? '' : `, +${ms(c1.p50Ms - directRound.c1.p50Ms)} over direct`
  const bad = c50.non2xx + c50.errors + c1.non2xx + c1.errors + fixed.non2xx + fixed.errors
  const cpu = fixed.cpuMicrosPerRequest === undefined ? '' : `; ${plain(fixed.cpuMicrosPerRequest, 1)} CPU µs/req at ${plain(fixed.rps)} req/s`
  say(`  ${contender.name.padEnd(18)} ${plain(c50.rps).padStart(7)} req/s @50 (p50 ${ms(c50.p50Ms)}, p99 ${ms(c50.p99Ms)}); p50 @1 ${ms(c1.p50Ms)}${added}${cpu}${bad > 0 ? `; ${bad} FAILED requests` : ''}`)
  return { c50, c1, fixed }
}

/**
 * One round: first every contender's 50-connection load, back to back, then the lighter loads.
 * The order is reversed every other round, so no contender always runs first or last, and the
 * req/s ratios compare loads seconds apart rather than a minute: this machine's speed drifts
 * between minutes by more than the differences measured.
 */
async function measureRound (contenders: readonly Contender[], round: number, rounds: Map<string, RoundFigures[]>): Promise<void> {
  const order = round % 2 === 1 ? [...contenders] : [...contenders].reverse()
  const c50 = new Map<string, LoadResult>()
  for (const contender of order) c50.set(contender.name, await measureC50(contender))
  for (const contender of contenders) {
    const directRound = contender.name === 'direct' ? undefined : rounds.get('direct')?.[round - 1]
    rounds.get(contender.name)?.push(await measureRest(contender, c50.get(contender.name) as LoadResult, directRound))
  }
}

async function main (): Promise<void> {
  const dir = scratchDir()
  const host = machine() // before pinning, which narrows what this process may see
  const { placement, note } = placeProcesses(dir)
  const priority = raisePriority()
  const mode = args.profile === true ? `profile of the ${args.target ?? 'proxy'} under load` : quick ? 'quick: one short round, no thresholds' : `${plan.rounds} rounds`
  say(`roecny-auth-proxy bench (${mode})`)
  say(`machine: ${host.cpu}, ${host.cores} cores, ${host.memoryGiB} GiB, Linux ${host.kernel}, Node ${host.node}`)
  say(note)
  say(priority)
  const loadAverageBefore = loadavg()
  say(`load average before the run: ${loadAverageBefore.map((l) => l.toFixed(2)).join(' ')}`)

  say(`the proxy runs with NODE_OPTIONS=${PROXY_NODE_OPTIONS} and MALLOC_ARENA_MAX=${PROXY_MALLOC_ARENA_MAX} (package.json config, as in the image and npm start)`)
  if (proxyFlags !== '') say(`proxy started with node flags: ${proxyFlags} (not how users run it)`)

  const upstream = await startUpstream()
  const running: Contender[] = []
  let proxy: ProxyProcess | undefined
  try {
    if (args.profile === true) {
      const target = args.target ?? 'proxy'
      await profile(placement, upstream, resultsDir, { target, seconds: Number(args.duration ?? 10), rate: args.rate === undefined ? undefined : Number(args.rate), extraFlags: proxyFlags }, say)
      return
    }
    const contenders: Contender[] = [direct(upstream)]
    proxy = await startProxy(placement, upstream, 'proxy', build)
    running.push(proxy)
    contenders.push(proxy)
    // Every Node contender runs on the node that runs the bench (process.execPath).
    const builds: ProxyBuild[] = [build]
    if (args.compare !== undefined) {
      const compared: ProxyBuild = { name: 'proxy (compared)', cli: args.compare, nodeFlags: proxyFlags }
      builds.push(compared)
      const before = await startProxy(placement, upstream, 'proxy-before', compared)
      running.push(before)
      contenders.push(before)
    }
    if (args.shaped === true) {
      const shaped = await startProxy(placement, upstream, 'proxy-shaped', shapedBuild(proxyFlags))
      running.push(shaped)
      contenders.push(shaped)
    }
    if (args['log-warn'] === true) {
      const quiet = await startProxy(placement, upstream, 'proxy-warn', quietBuild(proxyFlags))
      running.push(quiet)
      contenders.push(quiet)
    }
    if (args['two-profiles'] === true) {
      const profiled = await startProxy(placement, upstream, 'proxy-profiles', profilesBuild(placement.dir, proxyFlags))
      running.push(profiled)
      if (await servesProfiles(profiled)) {
        contenders.push({ ...profiled, alternating: PROFILE_CALLERS })
      } else {
        say('proxy (profiles): skipped: this build does not read PROXY_PROFILES_FILE yet (a request without x-proxy-key was forwarded, not refused with 401)')
      }
    }
    for (const server of SERVERS) {
      const started = await startServer(placement, upstream, server)
      running.push(started)
      contenders.push(started)
    }
    const nginxBinary = which('nginx')
    if (nginxBinary === undefined) {
      say('nginx: skipped (no nginx binary on the PATH; on Debian: apt-get install nginx)')
    } else {
      const nginx = await startNginx(placement, upstream, nginxBinary)
      running.push(nginx)
      contenders.push(nginx)
    }
    // Idle: started, logged in, nothing served yet.
    await new Promise((resolve) => setTimeout(resolve, 500))
    const idle = new Map(contenders.map((c) => [c.name, c.pids().length === 0 ? undefined : total(c.pids(), rssBytes)]))

    const rounds = new Map<string, RoundFigures[]>(contenders.map((c) => [c.name, []]))
    for (let round = 1; round <= plan.rounds; round++) {
      say(`round ${round}/${plan.rounds}: each contender ${plan.c50S} s at 50 connections after ${plan.warmS} s of warm-up, back to back (${round % 2 === 1 ? 'in order' : 'in reverse order'}); then each ${plan.c1S} s at 1 and ${plan.fixedS} s at ${plan.fixedRate} req/s`)
      await measureRound(contenders, round, rounds)
    }
    await proxy.stop()
    const logLines = await accessLogLines(proxy.logFile)

    say(`start to ready: ${plan.readyRuns} fresh start(s) of each Node contender, interleaved; then ${mib(plan.transferBytes)} up and down through the proxy and bare Fastify, ${plan.burst} requests on a cold proxy`)
    const ready = new Map<string, number[]>([...builds.map((b) => b.name), ...SERVERS.map((s) => s.name)].map((name) => [name, []]))
    for (let i = 0; i < plan.readyRuns; i++) {
      for (const b of builds) ready.get(b.name)?.push(await timeToReady(placement, upstream, b))
      for (const server of SERVERS) ready.get(server.name)?.push(await serverTimeToReady(placement, upstream, server))
    }
    const moved = await transfer(placement, upstream, plan.transferBytes, build)
    const stackMoved = await serverTransfer(placement, upstream, FASTIFY, plan.transferBytes)
    const burst = await coldBurst(placement, upstream, plan.burst, plan.burstLoginDelayMs, build)

    const directRounds = rounds.get('direct') as RoundFigures[]
    const figures = contenders.map((c) => summarise(c.name, rounds.get(c.name) as RoundFigures[], idle.get(c.name), c.name === 'direct' ? undefined : directRounds, ready.get(c.name)))
    const byName = (name: string): ContenderFigures | undefined => figures.find((f) => f.name === name)
    const proxyFigures = byName('roecny-auth-proxy') as ContenderFigures
    const fastifyFigures = byName(FASTIFY.name) as ContenderFigures
    const floorFigures = byName(FLOOR.name) as ContenderFigures
    const loggedFigures = byName(FASTIFY_LOGGED.name) as ContenderFigures
    const nginxFigures = byName('nginx')
    const proxyRequests = proxyFigures.rounds.reduce((sum, r) => sum + r.c50.requests + r.c1.requests, 0)

    const toFastify = ratio(proxyFigures, fastifyFigures)
    const toFastifyByCpu = cpuRatio(proxyFigures, fastifyFigures)
    // What SPEC §8's line costs the stack itself, and the proxy against the stack that logs it too.
    const loggedToFastify = ratio(loggedFigures, fastifyFigures)
    const loggedToFastifyByCpu = cpuRatio(loggedFigures, fastifyFigures)
    const toLogged = ratio(proxyFigures, loggedFigures)
    const toLoggedByCpu = cpuRatio(proxyFigures, loggedFigures)
    const toFloor = ratio(proxyFigures, floorFigures)
    const toFloorByCpu = cpuRatio(proxyFigures, floorFigures)
    const cpuOverFloor = cpuCost(proxyFigures, floorFigures)
    const toNginx = nginxFigures === undefined ? undefined : ratio(proxyFigures, nginxFigures)
    const toNginxByCpu = nginxFigures === undefined ? undefined : cpuRatio(proxyFigures, nginxFigures)
    const comparedFigures = byName('proxy (compared)')
    const toCompared = comparedFigures === undefined ? undefined : ratio(proxyFigures, comparedFigures)
    const comparedCpu = comparedFigures === undefined ? undefined : cpuCost(proxyFigures, comparedFigures)
    /** A variant of this build (another setting) against the build as users run it: req/s and CPU per request. */
    function variant (name: string): { toProxy: ReturnType<typeof ratio>, cpu: ReturnType<typeof perRequestCpu> } | undefined {
      const figures = byName(name)
      return figures === undefined ? undefined : { toProxy: ratio(figures, proxyFigures), cpu: perRequestCpu(figures, proxyFigures) }
    }
    function sayVariant (name: string, what: string): void {
      const v = variant(name)
      if (v === undefined) return
      const spread = (r: { perRound: number[] }): string => r.perRound.map((x) => x.toFixed(3)).join(', ')
      say(`${name} / roecny-auth-proxy: ${v.toProxy.median.toFixed(3)}× req/s @50 (rounds: ${spread(v.toProxy)}); ` +
        `CPU µs/req @1k/s ${v.cpu.ratio.median.toFixed(3)}× (rounds: ${spread(v.cpu.ratio)}), ` +
        `${v.cpu.addedMicros >= 0 ? '+' : ''}${v.cpu.addedMicros.toFixed(2)} µs a request ${what}`)
    }
    const shaped = variant('proxy (shaped)')
    const quiet = variant('proxy (warn)')
    const quietFigures = byName('proxy (warn)')
    const quietToFastify = quietFigures === undefined ? undefined : ratio(quietFigures, fastifyFigures)
    const profiles = variant('proxy (profiles)')
    const growth = Math.max(moved.upload.growthBytes, moved.download.growthBytes)
    const stackGrowth = Math.max(stackMoved.upload.growthBytes, stackMoved.download.growthBytes)
    const readyMedian = proxyFigures.startToReadyMs ?? NaN
    // Every target is the proxy against its own stack (bare Fastify + @fastify/http-proxy) in this same
    // run, so a slower or busier machine moves both sides: no absolute MB or ms goal.
    const stackIdle = fastifyFigures.idleRssBytes ?? NaN
    const stackPeak = fastifyFigures.peakRssBytes ?? NaN
    const stackReady = fastifyFigures.startToReadyMs ?? NaN
    const targets: Target[] = [
      { what: 'req/s @50 vs bare Fastify (same core)', goal: '≥ 0.90×', value: `${toFastify.median.toFixed(2)}× (by CPU ${toFastifyByCpu.median.toFixed(2)}×)`, met: toFastify.median >= 0.9 },
      ...(comparedCpu === undefined
        ? []
        : [{ what: 'CPU per request @1k/s vs the compared build', goal: '≤ 1.05× (the rounds\' spread)', value: `${comparedCpu.median.toFixed(3)}× (rounds ${Math.min(...comparedCpu.perRound).toFixed(3)}–${Math.max(...comparedCpu.perRound).toFixed(3)})`, met: comparedCpu.median <= 1.05 }]),
      { what: 'idle RSS vs bare Fastify\'s', goal: '≤ +10 MB', value: `${mb(proxyFigures.idleRssBytes)}, ${signedMb((proxyFigures.idleRssBytes ?? NaN) - stackIdle)}`, met: (proxyFigures.idleRssBytes ?? Infinity) - stackIdle <= 10 * MB },
      { what: 'peak RSS at 50 connections vs bare Fastify\'s', goal: '≤ its peak', value: `${mb(proxyFigures.peakRssBytes)}, ${((proxyFigures.peakRssBytes ?? NaN) / stackPeak).toFixed(2)}×`, met: (proxyFigures.peakRssBytes ?? Infinity) <= stackPeak },
      { what: 'start to /-/readyz 200 vs bare Fastify\'s first answer (medians)', goal: '≤ +150 ms', value: `${readyMedian.toFixed(0)} ms, ${signedMs(readyMedian - stackReady)}`, met: readyMedian - stackReady <= 150 },
      { what: 'added p50 at 1 connection vs bare Fastify\'s', goal: '≤ +0.050 ms', value: `${ms(proxyFigures.median.addedP50Ms1)}, ${signedMs((proxyFigures.median.addedP50Ms1 ?? NaN) - (fastifyFigures.median.addedP50Ms1 ?? NaN), 3)}`, met: (proxyFigures.median.addedP50Ms1 ?? Infinity) - (fastifyFigures.median.addedP50Ms1 ?? NaN) <= 0.05 },
      { what: `RSS growth, ${mib(plan.transferBytes)} up / down, vs bare Fastify's`, goal: '≤ +10 MB', value: `${mib(moved.upload.growthBytes)} / ${mib(moved.download.growthBytes)}, ${signedMb(growth - stackGrowth)}`, met: growth - stackGrowth <= 10 * MB && moved.upload.status === 200 && moved.download.received === plan.transferBytes },
      { what: `logins for ${plan.burst} cold requests`, goal: '= 1', value: String(burst.logins), met: burst.logins === 1 && burst.failed === 0 && burst.coldAtBurst }
    ]

    say('')
    say(contenderTable(figures))
    say('')
    const rounded = (r: { perRound: number[] }): string => r.perRound.map((x) => x.toFixed(2)).join(', ')
    const sayPair = (pair: string, byRps: Ratio, byCpu: Ratio): void => {
      say(`${pair}, req/s @50: ${byRps.median.toFixed(2)}× (rounds: ${rounded(byRps)}); by CPU per request @1k/s: ${byCpu.median.toFixed(2)}× (rounds: ${rounded(byCpu)})`)
    }
    sayPair('roecny-auth-proxy / bare Fastify', toFastify, toFastifyByCpu)
    sayPair('fastify (logged) / bare Fastify', loggedToFastify, loggedToFastifyByCpu)
    sayPair('roecny-auth-proxy / fastify (logged)', toLogged, toLoggedByCpu)
    say(`roecny-auth-proxy CPU per request @1k/s over the floor's: ${cpuOverFloor.median.toFixed(2)}× (rounds: ${rounded(cpuOverFloor)})`)
    say(`roecny-auth-proxy / floor, req/s @50: ${toFloor.median.toFixed(2)}× (rounds: ${rounded(toFloor)}); by CPU: ${toFloorByCpu.median.toFixed(2)}×`)
    say(toNginx === undefined ? 'roecny-auth-proxy / nginx: — (nginx skipped)' : `roecny-auth-proxy / nginx, req/s @50: ${toNginx.median.toFixed(2)}× (rounds: ${rounded(toNginx)}); by CPU: ${(toNginxByCpu?.median ?? NaN).toFixed(2)}×`)
    if (toCompared !== undefined && comparedCpu !== undefined) {
      say(`roecny-auth-proxy / proxy (compared, ${args.compare ?? ''}): ${toCompared.median.toFixed(2)}× req/s @50 (rounds: ${rounded(toCompared)}); CPU µs/req @1k/s ${comparedCpu.median.toFixed(3)}× (rounds: ${comparedCpu.perRound.map((r) => r.toFixed(3)).join(', ')})`)
    }
    for (const f of figures) {
      if (f.startToReadyRuns !== undefined) say(`start to ready, ${f.name}: ${f.startToReadyRuns.map((r) => `${r.toFixed(0)} ms`).join(', ')}`)
    }
    sayVariant('proxy (shaped)', '(the upstream limits, never reached)')
    sayVariant('proxy (warn)', '(no access line: what the access log costs, with the sign reversed)')
    if (quietToFastify !== undefined) say(`proxy (warn) / bare Fastify: ${quietToFastify.median.toFixed(2)}× req/s @50 (rounds: ${rounded(quietToFastify)})`)
    sayVariant('proxy (profiles)', '(two profiles, callers alternating)')
    for (const [name, figures] of [['roecny-auth-proxy', moved], ['bare Fastify', stackMoved]] as const) {
      say(`${name}, upload ${mib(plan.transferBytes)}: ${(plan.transferBytes / MiB / figures.upload.seconds).toFixed(0)} MiB/s, RSS ${mib(figures.idleRssBytes)} -> peak ${mib(figures.upload.peakRssBytes)}; download: ${(plan.transferBytes / MiB / figures.download.seconds).toFixed(0)} MiB/s, peak ${mib(figures.download.peakRssBytes)}`)
    }
    say(`cold burst: ${burst.requests} concurrent requests, ${burst.ok} answered 200, ${burst.logins} login(s)${burst.coldAtBurst ? '' : ' (WARNING: the proxy was already ready)'}`)
    say(`access log: ${logLines} request lines at info for ${proxyRequests} measured requests (plus warm-up)`)
    say(`load average after the run: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (other work on the machine makes the figures noisier)`)
    say('')
    say(targetTable(targets, !quick))

    const summary = {
      date: new Date().toISOString(),
      mode: quick ? 'quick' : 'full',
      machine: host,
      pinning: note,
      priority,
      proxyNodeOptions: PROXY_NODE_OPTIONS,
      proxyMallocArenaMax: PROXY_MALLOC_ARENA_MAX,
      proxyNodeFlags: proxyFlags,
      loadAverageBefore,
      loadAverageAfter: loadavg(),
      plan,
      contenders: figures,
      ratios: {
        proxyToFastify: toFastify,
        proxyToFastifyByCpu: toFastifyByCpu,
        loggedToFastify,
        loggedToFastifyByCpu,
        proxyToLogged: toLogged,
        proxyToLoggedByCpu: toLoggedByCpu,
        proxyCpuOverFloor: cpuOverFloor,
        proxyToFloor: toFloor,
        proxyToNginx: toNginx ?? null,
        proxyToCompared: toCompared ?? null,
        shapedToProxy: shaped?.toProxy ?? null,
        shapedToProxyCpu: shaped?.cpu ?? null,
        warnToProxy: quiet?.toProxy ?? null,
        warnToProxyCpu: quiet?.cpu ?? null,
        warnToFastify: quietToFastify ?? null,
        profilesToProxy: profiles?.toProxy ?? null,
        profilesToProxyCpu: profiles?.cpu ?? null,
        proxyToFloorByCpu: toFloorByCpu,
        proxyToNginxByCpu: toNginxByCpu ?? null
      },
      compared: args.compare ?? null,
      proxy: { transfer: moved, coldBurst: burst, accessLogLines: logLines, measuredRequests: proxyRequests },
      stack: { transfer: stackMoved },
      targets
    }
    mkdirSync(resultsDir, { recursive: true })
    const out = join(resultsDir, quick ? 'quick.json' : 'latest.json')
    writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`)
    say(`\nwritten: ${out}`)
    // Performance is never judged here; a request that failed means the bench or the proxy is broken.
    const failed = figures.reduce((sum, f) => sum + f.rounds.reduce((n, r) => n + r.c50.non2xx + r.c50.errors + r.c1.non2xx + r.c1.errors + r.fixed.non2xx + r.fixed.errors, 0), 0) +
      burst.failed + (moved.upload.status === 200 ? 0 : 1) + (moved.download.received === plan.transferBytes ? 0 : 1)
    if (failed > 0) {
      say(`FAILED: ${failed} request(s) did not get a complete 2xx answer`)
      process.exitCode = 1
    }
  } finally {
    for (const contender of running) await contender.stop()
    await upstream.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
// keep-alive sockets of the harness must not hold the process open.
process.exit(process.exitCode ?? 0)
