// The profiles file's one JSON schema, and ajv's findings turned into one line per problem naming the profile and the field.
import { Ajv } from 'ajv'
import type { ErrorObject, ValidateFunction } from 'ajv'
import { DIGEST_PATTERN } from './digest.js'

/** Upper bound of the caps, as of the UPSTREAM_* limits: far above any API's limits. */
const MAX_LIMIT = 1_000_000

/** Profile names: safe in a metric label, a log line and a Redis key. */
export const NAME_PATTERN = '^[a-z0-9_-]{1,32}$'

/** What `legalHeaderValue` accepts: the value travels in the login's `scope` or `x-login-as` header. */
const HEADER_VALUE_PATTERN = '^[\\t\\x20-\\x7e\\x80-\\xff]*$'

/** What each field must be, completing "profile NAME: FIELD ...", whatever the schema keyword that failed. */
export const FIELD_PROBLEMS = {
  accessKeys: 'must be a list of SHA-256 digests (64 hexadecimal characters each)',
  accessKeysFile: 'must be the path of a file holding keys, one per line',
  keyless: 'must be true or false',
  clientIdFile: 'must be the path of a file holding the client ID',
  apiKeyFile: 'must be the path of a file holding the API key',
  scope: 'must be a string without control characters or characters beyond Latin-1 ("" sends no scope header)',
  loginAs: 'must be a string without control characters or characters beyond Latin-1',
  allowMethods: 'must be a list of HTTP methods such as GET',
  allowPaths: 'must be a list of paths starting with / (* matches within one segment, ** any number of segments)',
  denyPaths: 'must be a list of paths starting with / (* matches within one segment, ** any number of segments)',
  maxInFlight: `must be an integer from 1 to ${MAX_LIMIT}`,
  rateLimit: `must be a number above 0, at most ${MAX_LIMIT}`,
  rateBurst: `must be an integer from 1 to ${MAX_LIMIT}`
} as const

export type ProfileField = keyof typeof FIELD_PROBLEMS

export const METHOD_PROBLEM = 'must be an HTTP method such as GET'
export const PATTERN_PROBLEM = 'must be a path starting with / (* matches within one segment, ** any number of segments)'

/** What one item of a list field must be, completing "profile NAME: FIELD[INDEX] ...". */
const ITEM_PROBLEMS: Partial<Record<ProfileField, string>> = {
  accessKeys: 'must be a SHA-256 digest (64 hexadecimal characters)',
  allowMethods: METHOD_PROBLEM,
  allowPaths: PATTERN_PROBLEM,
  denyPaths: PATTERN_PROBLEM
}

const path = { type: 'string', minLength: 1 }
const list = { type: 'array', items: { type: 'string' } }

/** The whole file in one schema, so that every problem of its shape is found in one pass. */
export const PROFILES_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['profiles'],
  properties: {
    profiles: {
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: NAME_PATTERN },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          accessKeys: { type: 'array', items: { type: 'string', pattern: DIGEST_PATTERN } },
          accessKeysFile: path,
          keyless: { type: 'boolean' },
          clientIdFile: path,
          apiKeyFile: path,
          scope: { type: 'string', pattern: HEADER_VALUE_PATTERN },
          loginAs: { type: 'string', pattern: HEADER_VALUE_PATTERN },
          allowMethods: list,
          allowPaths: list,
          denyPaths: list,
          maxInFlight: { type: 'integer', minimum: 1, maximum: MAX_LIMIT },
          rateLimit: { type: 'number', exclusiveMinimum: 0, maximum: MAX_LIMIT },
          rateBurst: { type: 'integer', minimum: 1, maximum: MAX_LIMIT }
        }
      }
    }
  }
} as const

/** A profile as the schema admits it. */
export interface ProfileEntry {
  accessKeys?: string[]
  accessKeysFile?: string
  keyless?: boolean
  clientIdFile?: string
  apiKeyFile?: string
  scope?: string
  loginAs?: string
  allowMethods?: string[]
  allowPaths?: string[]
  denyPaths?: string[]
  maxInFlight?: number
  rateLimit?: number
  rateBurst?: number
}

interface Validators {
  readonly file: ValidateFunction
  readonly fields: ReadonlyMap<string, ValidateFunction>
}

let validators: Validators | undefined

/** Compiled at first use: only a proxy with a profiles file pays for it. */
function compiled (): Validators {
  if (validators === undefined) {
    const ajv = new Ajv({ allErrors: true, strict: true })
    const fields = Object.entries(PROFILES_SCHEMA.properties.profiles.additionalProperties.properties)
    validators = { file: ajv.compile(PROFILES_SCHEMA), fields: new Map(fields.map(([field, schema]) => [field, ajv.compile(schema)])) }
  }
  return validators
}

function validate (data: unknown): ErrorObject[] {
  const { file } = compiled()
  return file(data) ? [] : file.errors as ErrorObject[]
}

/** The fields of a profile that pass their own schema: what the checks past the schema may read (the others are reported already). */
export function wellFormed (entry: Record<string, unknown>): ProfileEntry {
  const { fields } = compiled()
  return Object.fromEntries(Object.entries(entry).filter(([field, value]) => fields.get(field)?.(value) === true))
}

/** A JSON pointer's segments, unescaped. */
function segments (pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
}

/** Real fields are short camelCase words; anything else in a field's place is not echoed, since it could be a pasted key. */
const SHOWN_FIELD = /^[A-Za-z]{1,24}$/

function unknownField (name: string): string {
  return SHOWN_FIELD.test(name) ? `unknown field ${name}` : 'an unknown field (its name is not shown)'
}

/**
 * How a profile is named in a message: by its name when that is a valid one, else by its place in
 * the file, since whatever stands in a name's place could be a pasted key.
 */
export function profileLabel (name: string, names: readonly string[]): string {
  return new RegExp(NAME_PATTERN).test(name) ? `profile ${name}` : `profile #${names.indexOf(name) + 1} (its name is not shown)`
}

function problemOf (error: ErrorObject, names: readonly string[]): string | undefined {
  const [top, name, field, index] = segments(error.instancePath)
  if (top === undefined) {
    if (error.keyword === 'additionalProperties') return `${unknownField(String(error.params.additionalProperty))} at the top level (the file holds profiles: only)`
    return 'the file must be a map holding profiles: (a map of profile names to profiles)'
  }
  if (name === undefined) {
    if (error.keyword === 'propertyNames') {
      return `${profileLabel(String(error.params.propertyName), names)}: a name must be 1 to 32 of a-z 0-9 - _`
    }
    // The pattern failure inside propertyNames comes with the propertyNames one above.
    if (error.propertyName !== undefined) return undefined
    return 'profiles: must be a map of profile names to profiles, at least one'
  }
  const label = profileLabel(name, names)
  if (field === undefined) {
    if (error.keyword === 'additionalProperties') return `${label}: ${unknownField(String(error.params.additionalProperty))}`
    return `${label}: must be a map of fields`
  }
  const known = field as ProfileField
  if (index === undefined) return `${label}: ${field} ${FIELD_PROBLEMS[known]}`
  return `${label}: ${field}[${index}] ${ITEM_PROBLEMS[known] as string}`
}

/** One line per problem of the file's shape, in the file's order, never quoting a value; empty when the shape is good. */
export function shapeProblems (data: unknown): string[] {
  const errors = validate(data)
  const profiles = (data as { profiles?: unknown } | null)?.profiles
  const names = typeof profiles === 'object' && profiles !== null ? Object.keys(profiles) : []
  const problems: string[] = []
  for (const error of errors) {
    const problem = problemOf(error, names)
    if (problem !== undefined && !problems.includes(problem)) problems.push(problem)
  }
  return problems
}
