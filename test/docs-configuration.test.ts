// docs/configuration.md is generated from the variable table and config.example.env: a stale page fails here.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { DOC_FILE, EXAMPLE_FILE, parseExample, REGENERATE, renderConfigurationDoc, slug, writeConfigurationDoc } from '../scripts/config-docs.js'
import { defaultOf, VARIABLES } from '../src/config/variables.js'
import type { VariableName } from '../src/config/variables.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const EXAMPLE = readFileSync(join(ROOT, EXAMPLE_FILE), 'utf8')
const DOC = readFileSync(join(ROOT, DOC_FILE), 'utf8')

t.test('docs/configuration.md is what the generator renders today', async (t) => {
  t.ok(DOC === renderConfigurationDoc(EXAMPLE), `docs/configuration.md is stale: run \`${REGENERATE}\` and commit the page`)
})

t.test('every variable of the table has its row, with its default and what it accepts, and its explanation', async (t) => {
  for (const name of Object.keys(VARIABLES) as VariableName[]) {
    const fallback = defaultOf(name)
    t.match(DOC, new RegExp(`^\\| \\[\`${name}\`\\]\\(#[a-z0-9_-]+\\) \\| ${fallback === undefined ? 'none' : `\`${fallback.replace('.', '\\.')}\``} \\| `, 'm'), `${name} has its row`)
    t.match(DOC, new RegExp(`^### (.*, )?${name}(,|$)`, 'm'), `${name} has its explanation`)
  }
  for (const [, target] of DOC.matchAll(/\]\(#([^)]+)\)/g)) {
    t.ok(DOC.split('\n').some((line) => /^#{2,3} /.test(line) && slug(line.replace(/^#+ /, '')) === target), `#${target} is a heading of the page`)
  }
})

t.test('how config.example.env is read: paragraphs, shared explanations, second examples, section introductions', async (t) => {
  const cases: Array<{ why: string, example: string, sections: unknown }> = [
    {
      why: 'the file\'s own header is not a section; a section\'s text without a variable is its introduction',
      example: '# about the file\n\n# --- First ---\n# intro line\n\n# explains\n# LOG_LEVEL=info',
      sections: [{ title: 'First', intro: ['intro line', ''], groups: [{ names: ['LOG_LEVEL'], text: ['explains'], examples: ['LOG_LEVEL=info'] }] }]
    },
    {
      why: 'variable lines with no text between them share one explanation',
      example: '# --- Mock ---\n# where it listens\n# MOCK_HOST=127.0.0.1\n# MOCK_PORT=8081',
      sections: [{ title: 'Mock', intro: [], groups: [{ names: ['MOCK_HOST', 'MOCK_PORT'], text: ['where it listens'], examples: ['MOCK_HOST=127.0.0.1', 'MOCK_PORT=8081'] }] }]
    },
    {
      why: 'text before a second line of the same variable stays its explanation; text before another variable starts a new one',
      example: '# --- Up ---\n# the URL\nROECNY_BASE_URL=http://127.0.0.1:8081\n# real use:\n# ROECNY_BASE_URL=https://x.example\n# a key\n# ROECNY_API_KEY=k',
      sections: [{
        title: 'Up',
        intro: [],
        groups: [
          { names: ['ROECNY_BASE_URL'], text: ['the URL', 'real use:'], examples: ['ROECNY_BASE_URL=http://127.0.0.1:8081', 'ROECNY_BASE_URL=https://x.example'] },
          { names: ['ROECNY_API_KEY'], text: ['a key'], examples: ['ROECNY_API_KEY=k'] }
        ]
      }]
    },
    {
      why: 'an assignment of a name the program does not read is text',
      example: '# --- Other ---\n# NOT_READ=1 is text\n# LOG_LEVEL=info',
      sections: [{ title: 'Other', intro: [], groups: [{ names: ['LOG_LEVEL'], text: ['NOT_READ=1 is text'], examples: ['LOG_LEVEL=info'] }] }]
    }
  ]
  for (const { why, example, sections } of cases) t.same(parseExample(example), sections, why)
})

t.test('Markdown: * outside code spans is escaped, | in a table cell too; headings become their anchors', async (t) => {
  const page = renderConfigurationDoc('# --- The `mock` part ---\n# every *_FILE and `*_FILE`\n# PROXY_ALLOWED_HOSTS=a|b\n')
  t.match(page, 'every \\*_FILE and `*_FILE`')
  t.match(page, '| [`PROXY_ALLOWED_HOSTS`](#proxy_allowed_hosts) | none | a string | extra Host names accepted (\\* turns the check off) |')
  t.match(page, '- [The `mock` part](#the-mock-part)')
  t.equal(slug('Roecny\'s limits (opt-in)'), 'roecnys-limits-opt-in')
  t.match(DOC, '| fatal\\|error\\|warn\\|info\\|debug\\|trace\\|silent |', 'LOG_LEVEL\'s help keeps its table cell')
})

t.test('npm run docs writes the rendered page', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'config-docs-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const target = join(dir, 'configuration.md')
  writeConfigurationDoc(ROOT, target)
  t.equal(readFileSync(target, 'utf8'), renderConfigurationDoc(EXAMPLE))
})
