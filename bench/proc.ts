// What the kernel says about a process: CPU time from /proc/<pid>/stat, RSS from /proc/<pid>/status.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** Clock ticks per second of utime/stime; 100 on every Linux this runs on, asked anyway. */
const CLOCK_TICKS = (function clockTicks (): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** User + system CPU time of the process (all its threads), in microseconds. */
export function cpuMicros (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name may hold spaces and parentheses; the fields after its last ')' are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12]) // utime, stime (fields 14 and 15 of the line)
  return ticks * 1e6 / CLOCK_TICKS
}

/** Resident set size in bytes (VmRSS). */
export function rssBytes (pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status)
  return match === null ? 0 : Number(match[1]) * 1024
}

/** Sums a reading over a group of processes (nginx: master and worker). */
export function total (pids: readonly number[], read: (pid: number) => number): number {
  let sum = 0
  for (const pid of pids) sum += read(pid)
  return sum
}

/** Samples the group's RSS every `everyMs` until stopped; returns the highest value seen. */
export function rssSampler (pids: () => readonly number[], everyMs = 50): { stop: () => number } {
  let peak = total(pids(), rssBytes)
  const timer = setInterval(() => { peak = Math.max(peak, total(pids(), rssBytes)) }, everyMs)
  return {
    stop () {
      clearInterval(timer)
      return Math.max(peak, total(pids(), rssBytes))
    }
  }
}

/** Children of a process (nginx's workers), from /proc/<pid>/task/<pid>/children. */
export function childPids (pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** True when `taskset` (util-linux) can pin processes here. */
export function hasTaskset (): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Pins every thread of a running process to one core. */
export function pin (pid: number, core: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' })
}

/** Where an executable lives on the PATH, or undefined. */
export function which (name: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}
