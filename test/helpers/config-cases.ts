// Configuration cases as tables: one row per environment, the reason in the row, and the outcome loadConfig must give.
import type { Test } from 'tap'
import { loadConfig } from '../../src/config.js'
import type { ConfigError } from '../../src/config.js'

export type Env = Record<string, string | undefined>

/** The problems `load` reports for `env`, failing the test when it accepts it. */
export function problemsOf (env: Env, load: (env: Env) => unknown = loadConfig): string[] {
  try {
    load(env)
  } catch (err) {
    // A module loaded through t.mockImport has its own ConfigError class: compare by name.
    if ((err as Error).name === 'ConfigError') return (err as ConfigError).problems
    throw err
  }
  throw new Error('configuration was accepted')
}

/** One row of a table: the variables set over the base (undefined unsets one), why the case is there, and its outcome. */
export interface ConfigCase {
  why: string
  env: Env
  /** Accepted, and these fields of the result hold exactly these values. */
  want?: Record<string, unknown>
  /** Accepted, with exactly these warnings. */
  warnings?: string[]
  /** Refused with exactly these problems. */
  problems?: string[]
  /** A value that no problem may echo. */
  hides?: string
}

export interface TableOptions {
  /** The variables every row starts from, instead of the table's base. */
  base?: Env
  /** What reads the environment (default loadConfig). */
  load?: (env: Env) => object
}

/** `NAME=value ...`, control characters escaped and long values cut, to name a row in the output. */
function label (env: Env): string {
  if (Object.keys(env).length === 0) return '(the base alone)'
  return Object.entries(env).map(([name, value]) => {
    const shown = value === undefined ? '(unset)' : JSON.stringify(value).slice(1, -1)
    return `${name}=${shown.length > 60 ? `${shown.slice(0, 60)}...` : shown}`
  }).join(' ')
}

/** A checker of tables over `base`: each row is one assertion or more, named by the row's variables and its reason. */
export function configTables (base: Env): (t: Test, cases: readonly ConfigCase[], options?: TableOptions) => void {
  return function table (t, cases, options = {}) {
    const load = options.load ?? loadConfig
    for (const row of cases) {
      const env = { ...(options.base ?? base), ...row.env }
      const name = `${label(row.env)}: ${row.why}`
      if (row.problems !== undefined) {
        const problems = problemsOf(env, load)
        t.same(problems, row.problems, name)
        if (row.hides !== undefined) t.notOk(problems.join('\n').includes(row.hides), `${name}: the value is not echoed`)
        continue
      }
      const result = load(env) as Record<string, unknown>
      if (row.want !== undefined) t.same(Object.fromEntries(Object.keys(row.want).map((key) => [key, result[key]])), row.want, name)
      if (row.warnings !== undefined) t.same(result.warnings, row.warnings, `${name}: warnings`)
    }
  }
}
