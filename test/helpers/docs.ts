// The project's Markdown pages as tests read them: their fenced code blocks, shell lines split into commands, their links.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** README.md and every page of docs/, as paths from the project's root. */
export function pages (): string[] {
  const docs = readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).sort()
  return ['README.md', ...docs.map((name) => `docs/${name}`)]
}

export function read (page: string): string {
  return readFileSync(join(ROOT, page), 'utf8')
}

export interface Block {
  page: string
  /** 1-based line of the opening fence. */
  line: number
  language: string
  /** The words after the language in the fence's info string (`placeholder`). */
  flags: string[]
  text: string
}

/** Every fenced code block of `page`. */
export function blocks (page: string): Block[] {
  const found: Block[] = []
  let open: Block | undefined
  let body: string[] = []
  read(page).split('\n').forEach((line, index) => {
    const fence = /^```(.*)$/.exec(line)
    if (fence === null) {
      body.push(line)
      return
    }
    if (open !== undefined) {
      found.push({ ...open, text: body.join('\n') })
      open = undefined
      return
    }
    const [language = '', ...flags] = (fence[1] as string).trim().split(/\s+/)
    open = { page, line: index + 1, language, flags, text: '' }
    body = []
  })
  return found
}

export const SHELL_LANGUAGES = new Set(['sh', 'bash', 'shell'])

/** A command of a shell line: its variable assignments and its words, quotes removed. */
export interface Command {
  assignments: string[]
  words: string[]
}

/** One line as a reader copies it: continuation lines joined, the comment left out. */
export interface ShellLine {
  text: string
  commands: Command[]
}

const OPERATORS = ['&&', '||', '|', ';', '&']

/**
 * Splits one shell line into its commands at `&&`, `||`, `|`, `;` and `&`, removing quotes and a
 * trailing comment. Enough of the shell's grammar for the commands the docs show: quotes, `\` escapes
 * and `$(...)` kept within one word; no here-documents.
 */
export function splitLine (line: string): { text: string, commands: Command[] } {
  const commands: Command[] = []
  let words: string[] = []
  let word: string | undefined
  let quote: string | undefined
  let depth = 0
  let end = line.length
  for (let i = 0; i < line.length; i++) {
    const char = line[i] as string
    if (quote !== undefined) {
      if (char === quote) quote = undefined
      else word += char === '\\' && quote === '"' ? line[++i] ?? '' : char
      continue
    }
    if (char === '$' && line[i + 1] === '(') depth++
    if (char === ')' && depth > 0) depth--
    // `#` inside a word and the `&` of a redirection (`2>&1`) are the word's own.
    if (depth > 0 || !/[\s'"\\#&|;]/.test(char) || (char === '#' && word !== undefined) || (char === '&' && line[i - 1] === '>')) {
      word = (word ?? '') + char
      continue
    }
    if (char === '\'' || char === '"') {
      quote = char
      word ??= ''
      continue
    }
    if (char === '\\') {
      word = (word ?? '') + (line[++i] ?? '')
      continue
    }
    if (word !== undefined) words.push(word)
    word = undefined
    if (char === '#') {
      end = i
      break
    }
    const operator = OPERATORS.find((op) => line.startsWith(op, i))
    if (operator !== undefined) {
      commands.push(commandOf(words))
      words = []
      i += operator.length - 1
    }
  }
  if (word !== undefined) words.push(word)
  if (words.length > 0) commands.push(commandOf(words))
  return { text: line.slice(0, end).trim(), commands: commands.filter((command) => command.words.length > 0 || command.assignments.length > 0) }
}

function commandOf (words: string[]): Command {
  const first = words.findIndex((word) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(word))
  return first === -1 ? { assignments: words, words: [] } : { assignments: words.slice(0, first), words: words.slice(first) }
}

/** The lines of a shell block: `\`-continued lines joined, blank and comment-only lines left out. */
export function shellLines (text: string): ShellLine[] {
  return text.replace(/\s*\\\n\s*/g, ' ').split('\n')
    .map((line) => splitLine(line))
    .filter((line) => line.text !== '')
}

/** Every Markdown link of `text` whose target is a file of this project or an anchor: [target, anchor]. */
export function localLinks (text: string): Array<{ file: string, anchor: string | undefined }> {
  const links: Array<{ file: string, anchor: string | undefined }> = []
  for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/.test(target as string)) continue
    const [file = '', anchor] = (target as string).split('#')
    links.push({ file, anchor })
  }
  return links
}
