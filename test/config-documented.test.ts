// The variable table is the one list: config.example.env documents every variable in it, and --help lists each, both with its default.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { EXIT_OK, main } from '../src/cli.js'
import { defaultOf, VARIABLES } from '../src/config/variables.js'
import type { VariableName } from '../src/config/variables.js'

const EXAMPLE = readFileSync(new URL('../config.example.env', import.meta.url), 'utf8')
const NAMES = Object.keys(VARIABLES) as VariableName[]

function literal (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

t.test('config.example.env documents every variable of the table, its default as the commented value', async (t) => {
  for (const name of NAMES) {
    t.match(EXAMPLE, new RegExp(`^#? ?${name}=`, 'm'), `${name} is documented`)
    const fallback = defaultOf(name)
    if (fallback !== undefined) t.match(EXAMPLE, new RegExp(`^# ${name}=${literal(fallback)}$`, 'm'), `${name} shows its default ${fallback}`)
  }
  const documented = new Set([...EXAMPLE.matchAll(/^#? ?([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1] as string))
  t.same([...documented].filter((name) => !(name in VARIABLES)), [], 'nothing is documented that the program does not read')
})

t.test('--help lists every variable of the table with its line of help and its default', async (t) => {
  let stdout = ''
  const code = await main(['--help'], {}, { stdout: (text) => { stdout += text }, stderr: () => {} })
  t.equal(code, EXIT_OK)
  for (const name of NAMES) {
    const fallback = defaultOf(name)
    const line = `${VARIABLES[name].help}${fallback === undefined ? '' : ` (default ${fallback})`}`
    t.match(stdout, new RegExp(`^ {2}${name} +${literal(line)}$`, 'm'), name)
  }
})
