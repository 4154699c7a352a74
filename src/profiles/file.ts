// PROXY_PROFILES_FILE: read, checked against its schema and the environment, every problem listed at once, turned into a frozen description.
import { hash } from 'node:crypto'
import { parseDocument } from 'yaml'
import { ConfigError } from '../config.js'
import type { Config } from '../config.js'
import { parseMethod, parsePathPattern } from '../config/access.js'
import { MAX_CA_FILE_BYTES, MAX_SECRET_FILE_BYTES, parseAccessKeys, parseCredential, readSecretFile } from '../config/secret-files.js'
import type { Parsed } from '../config/secret-files.js'
import { isLoopbackHost } from '../hosts.js'
import { DIGEST_PATTERN, MIN_KEY_LENGTH, textDigest } from './digest.js'
import { compilePolicy } from './policy.js'
import type { ProfilePolicy } from './policy.js'
import { METHOD_PROBLEM, PATTERN_PROBLEM, profileLabel, shapeProblems, wellFormed } from './schema.js'
import type { ProfileEntry } from './schema.js'

/**
 * What the profiles are checked against: the environment as loadConfig() read it, except that the
 * client ID and API key may be missing when every profile names its own files.
 */
export type ProfilesEnvironment = Pick<Config, 'baseUrl' | 'scope' | 'loginAs' | 'proxyHost' | 'proxySocket' |
'allowUnauthenticatedRemote' | 'accessKeys' | 'allowMethods' | 'allowPaths' | 'denyPaths' | 'secretFiles'> & {
  readonly clientId: string | undefined
  readonly apiKey: string | undefined
}

/** A client ID or an API key, and the file to watch for it (undefined when it comes from a variable's value). */
export interface Credential {
  readonly value: string
  /** The profile's own `clientIdFile` / `apiKeyFile`, or the environment's `ROECNY_*_FILE`. */
  readonly file: string | undefined
  /** True when the profile names its own file; false when the environment's value serves. */
  readonly own: boolean
}

export interface Profile {
  readonly name: string
  /** SHA-256 digests (lower-case hex) of every key that selects this profile: `accessKeys` and the keys of `accessKeysFile`. */
  readonly digests: ReadonlySet<string>
  readonly keyless: boolean
  readonly accessKeysFile: string | undefined
  readonly clientId: Credential
  readonly apiKey: Credential
  /** The login's `scope` header; undefined sends none (`scope: ""`, or neither the profile nor ROECNY_SCOPE sets one). */
  readonly scope: string | undefined
  readonly loginAs: string | undefined
  /** The profile's own lists, in the normal form of the environment's (see Config); the policy combines both. */
  readonly allowMethods: readonly string[] | undefined
  readonly allowPaths: readonly string[] | undefined
  readonly denyPaths: readonly string[]
  readonly policy: ProfilePolicy
  /** The profile's own caps within its account's budget; 0: none. */
  readonly maxInFlight: number
  readonly rateLimit: number
  /** The rate's burst (default: the rate rounded up); 0 without a rate. */
  readonly rateBurst: number
  /** The `key` of its token tuple and of its account. */
  readonly tuple: string
  readonly account: string
}

/** One token lifecycle: every profile with the same four values shares it. */
export interface TokenTuple {
  /** A digest of the four values: tells the tuple again across reloads; holds none of them in clear. */
  readonly key: string
  readonly clientId: string
  readonly apiKey: string
  readonly scope: string | undefined
  readonly loginAs: string | undefined
  /** The names of the profiles using it, in file order. */
  readonly profiles: readonly string[]
  readonly account: string
}

/** A Roecny account, whose budget (SPEC §11) its profiles share. */
export interface Account {
  /** A digest of the base URL and the client ID; holds neither in clear. */
  readonly key: string
  readonly baseUrl: string
  readonly clientId: string
  readonly profiles: readonly string[]
}

export interface ProfilesDescription {
  /** The profiles file's path. */
  readonly file: string
  /** Every profile by name, in file order. */
  readonly profiles: ReadonlyMap<string, Profile>
  /** The profile of callers that send no key, if there is one. */
  readonly keyless: Profile | undefined
  /** The distinct token tuples, in the order their first profile appears. */
  readonly tuples: readonly TokenTuple[]
  readonly accounts: readonly Account[]
  /** What an operator should fix but may run with (never a value). */
  readonly warnings: readonly string[]
}

const FILE = 'PROXY_PROFILES_FILE'

function digestOf (values: readonly unknown[]): string {
  return hash('sha256', JSON.stringify(values), 'hex')
}

/**
 * The files a read used: their trimmed texts by path (the profiles file's and each named file's), and
 * for a reload, the last good texts of the named files an applied description uses.
 */
interface Reading {
  readonly lastGood: ReadonlyMap<string, string>
  readonly texts: Map<string, string>
  /** Named files that were empty, unreadable or invalid and whose last good text served, with the first problem found. */
  readonly kept: Map<string, string>
}

/** The file's data, or the problems of reading and parsing it; the YAML's own messages quote lines, so only places are given. */
function readYaml (path: string, problems: string[], reading: Reading): unknown {
  const file = readSecretFile(FILE, path, MAX_CA_FILE_BYTES)
  if (!file.ok) {
    problems.push(file.problem)
    return undefined
  }
  reading.texts.set(path, file.value.text)
  const document = parseDocument(file.value.text)
  for (const error of document.errors) {
    // With prettyErrors (the default) every error carries its place; its message, which quotes the line, is not used.
    const at = error.linePos?.[0] ?? /* c8 ignore next -- never undefined, see above */ { line: 0, col: 0 }
    problems.push(`${FILE} is not valid YAML (line ${at.line}, column ${at.col}): ${error.code.toLowerCase().replace(/_/g, ' ')}`)
  }
  return document.errors.length > 0 ? undefined : document.toJS()
}

interface FileRead {
  readonly text: string
  readonly mode: number
}

/** A named file's text; its problems say which profile and field named it. */
function readNamed (label: string, field: string, path: string, problems: string[], warnings: string[]): FileRead | undefined {
  const name = `${label}: ${field}`
  const file = readSecretFile(name, path, MAX_SECRET_FILE_BYTES)
  if (!file.ok) {
    problems.push(file.problem)
    return undefined
  }
  // As with the ROECNY_*_FILE secrets: a Secret volume's default mode lets every local user read the key.
  if ((file.value.mode & 0o044) !== 0) {
    warnings.push(`${name} names a file that group or others may read (mode ${file.value.mode.toString(8).padStart(4, '0')}); ` +
      'let only the proxy\'s user read it (chmod 600)')
  }
  return file.value
}

function parsed<T> (result: Parsed<T>, problems: string[]): T | undefined {
  if (!result.ok) problems.push(result.problem)
  return result.ok ? result.value : undefined
}

/**
 * A named file's value, checked by `parse`. On a reload (SPEC §10), a file that is empty, unreadable or
 * invalid and has a last good text keeps it: that text is used instead and the file is noted as kept.
 */
function named<T> (label: string, field: string, path: string, parse: (text: string, problems: string[]) => T | undefined,
  reading: Reading, problems: string[], warnings: string[]): T | undefined {
  const own: string[] = []
  const file = readNamed(label, field, path, own, warnings)
  const value = file === undefined ? undefined : parse(file.text, own)
  if (file !== undefined && own.length === 0) {
    reading.texts.set(path, file.text)
    return value
  }
  const good = reading.lastGood.get(path)
  if (good === undefined) {
    // What was read is still used, so the checks between profiles (a key in two) see it.
    problems.push(...own)
    return value
  }
  reading.kept.set(path, own[0] as string)
  reading.texts.set(path, good)
  return parse(good, problems)
}

/** Digests of the keys in clear of an accessKeysFile, each at least MIN_KEY_LENGTH long. */
function fileDigests (label: string, path: string, reading: Reading, problems: string[], warnings: string[]): string[] {
  return named(label, 'accessKeysFile', path, function digests (text, found) {
    const keys = parsed(parseAccessKeys(`${label}: accessKeysFile`, text), found) ?? []
    if (keys.some((key) => key.length < MIN_KEY_LENGTH)) {
      found.push(`${label}: accessKeysFile holds a key shorter than ${MIN_KEY_LENGTH} characters; keys must be random, e.g. from roecny-auth-proxy hash-key`)
    }
    return keys.map(textDigest)
  }, reading, problems, warnings) ?? []
}

function credential (label: string, field: 'clientIdFile' | 'apiKeyFile', path: string | undefined, environment: { value: string | undefined, file: string | undefined },
  reading: Reading, problems: string[], warnings: string[]): Credential | undefined {
  if (path === undefined) return environment.value === undefined ? undefined : { value: environment.value, file: environment.file, own: false }
  const value = named(label, field, path, (text, found) => parsed(parseCredential(`${label}: ${field}`, text), found), reading, problems, warnings)
  return value === undefined ? undefined : { value, file: path, own: true }
}

/** A list of methods or patterns, each item checked by `parse`; undefined when the profile has none. */
function parseList (label: string, field: string, items: readonly string[] | undefined, parse: (item: string) => string | undefined,
  problem: string, problems: string[]): readonly string[] | undefined {
  if (items === undefined) return undefined
  const list: string[] = []
  for (const [index, item] of items.entries()) {
    const value = parse(item)
    if (value === undefined) problems.push(`${label}: ${field}[${index}] ${problem}`)
    else if (!list.includes(value)) list.push(value)
  }
  return Object.freeze(list)
}

/** Each profile as read, before the rules between profiles. */
interface Draft {
  readonly name: string
  readonly label: string
  readonly entry: ProfileEntry
  readonly listed: ReadonlySet<string>
  readonly inFile: ReadonlySet<string>
  readonly clientId: Credential | undefined
  readonly apiKey: Credential | undefined
  readonly allowMethods: readonly string[] | undefined
  readonly allowPaths: readonly string[] | undefined
  readonly denyPaths: readonly string[] | undefined
}

const DIGEST = new RegExp(DIGEST_PATTERN)

/** The well-formed digests of `accessKeys`, lower case: a key in two profiles is found even beside a malformed item. */
function listedDigests (listed: unknown): string[] {
  return Array.isArray(listed) ? listed.filter((item) => typeof item === 'string' && DIGEST.test(item)).map((digest: string) => digest.toLowerCase()) : []
}

function isMap (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function draft (name: string, label: string, given: Record<string, unknown>, environment: ProfilesEnvironment, reading: Reading, problems: string[], warnings: string[]): Draft {
  // A way in that is there but malformed is reported as such, not as missing.
  const listed = given.accessKeys
  const noKeys = listed === undefined || (Array.isArray(listed) && listed.length === 0)
  if (noKeys && given.accessKeysFile === undefined && (given.keyless === undefined || given.keyless === false)) {
    problems.push(`${label}: no way in: give it accessKeys, accessKeysFile or keyless: true`)
  }
  const entry = wellFormed(given)
  if (entry.rateBurst !== undefined && entry.rateLimit === undefined) {
    problems.push(`${label}: rateBurst is set but rateLimit is not; set rateLimit to limit the rate`)
  }
  const files = environment.secretFiles
  return {
    name,
    label,
    entry,
    listed: new Set(listedDigests(listed)),
    inFile: new Set(entry.accessKeysFile === undefined ? [] : fileDigests(label, entry.accessKeysFile, reading, problems, warnings)),
    clientId: credential(label, 'clientIdFile', entry.clientIdFile, { value: environment.clientId, file: files.ROECNY_CLIENT_ID_FILE }, reading, problems, warnings),
    apiKey: credential(label, 'apiKeyFile', entry.apiKeyFile, { value: environment.apiKey, file: files.ROECNY_API_KEY_FILE }, reading, problems, warnings),
    allowMethods: parseList(label, 'allowMethods', entry.allowMethods, parseMethod, METHOD_PROBLEM, problems),
    allowPaths: parseList(label, 'allowPaths', entry.allowPaths, parsePathPattern, PATTERN_PROBLEM, problems),
    denyPaths: parseList(label, 'denyPaths', entry.denyPaths, parsePathPattern, PATTERN_PROBLEM, problems)
  }
}

/** A key selects one profile: a digest found in two profiles is named by the profiles and fields, never by itself. */
function sharedKeys (drafts: readonly Draft[], problems: string[]): void {
  const owners = new Map<string, Draft>()
  const reported = new Set<string>()
  for (const d of drafts) {
    for (const digest of new Set([...d.listed, ...d.inFile])) {
      const first = owners.get(digest)
      if (first === undefined) {
        owners.set(digest, d)
        continue
      }
      const pair = `${first.name}\n${d.name}`
      if (reported.has(pair)) continue
      reported.add(pair)
      const fields = (x: Draft): string => [x.listed.has(digest) ? 'accessKeys' : '', x.inFile.has(digest) ? 'accessKeysFile' : ''].filter(Boolean).join(' and ')
      problems.push(`${first.label} (${fields(first)}) and ${d.label} (${fields(d)}) hold the same key; a key selects one profile`)
    }
  }
}

/** The rules that span profiles, or tie them to the environment. */
function crossProblems (drafts: readonly Draft[], environment: ProfilesEnvironment, problems: string[], warnings: string[]): void {
  sharedKeys(drafts, problems)
  const keyless = drafts.filter((d) => d.entry.keyless === true)
  if (keyless.length > 1) {
    problems.push(`${keyless.map((d) => d.label).join(' and ')} are keyless; at most one profile may serve callers without a key`)
  }
  // As without profiles: only a loopback listener may serve callers who send no key, unless the operator says otherwise.
  const remote = environment.proxySocket === undefined && !isLoopbackHost(environment.proxyHost)
  for (const d of remote ? keyless : []) {
    if (environment.allowUnauthenticatedRemote) {
      warnings.push(`PROXY_ALLOW_UNAUTHENTICATED_REMOTE=true: ${d.label} is keyless on a non-loopback PROXY_HOST; anyone who reaches the port uses its token`)
    } else {
      problems.push(`${d.label}: keyless on a non-loopback PROXY_HOST lets anyone who reaches the port use its token ` +
        '(listen on loopback, give it keys, or set PROXY_ALLOW_UNAUTHENTICATED_REMOTE=true)')
    }
  }
  if (environment.accessKeys.length > 0) {
    const variable = environment.secretFiles.PROXY_ACCESS_KEY_FILE === undefined ? 'PROXY_ACCESS_KEY' : 'PROXY_ACCESS_KEY_FILE'
    problems.push(`${variable} is set beside ${FILE}; profiles replace it: give its keys to a profile (accessKeys or accessKeysFile) and unset it`)
  }
  for (const [variable, field, has] of [['ROECNY_CLIENT_ID', 'clientIdFile', environment.clientId], ['ROECNY_API_KEY', 'apiKeyFile', environment.apiKey]] as const) {
    const without = drafts.filter((d) => d.entry[field] === undefined).map((d) => d.name)
    if (has === undefined && without.length > 0) {
      problems.push(`${variable} or ${variable}_FILE is required: ${without.length === 1 ? 'profile' : 'profiles'} ${without.join(', ')} ${without.length === 1 ? 'names' : 'name'} no ${field}`)
    }
  }
}

/** `scope: ""` sends no scope header; a field not given is the environment's. */
function orEnvironment (own: string | undefined, environment: string | undefined): string | undefined {
  const value = own ?? environment
  return value === '' ? undefined : value
}

function group<T extends { key: string, profiles: readonly string[] }> (items: Map<string, T & { profiles: string[] }>, key: string, name: string, make: () => T): void {
  const found = items.get(key)
  if (found === undefined) items.set(key, { ...make(), profiles: [name] })
  else found.profiles.push(name)
}

function describe (path: string, drafts: readonly Draft[], environment: ProfilesEnvironment, warnings: string[]): ProfilesDescription {
  const profiles = new Map<string, Profile>()
  const tuples = new Map<string, TokenTuple & { profiles: string[] }>()
  const accounts = new Map<string, Account & { profiles: string[] }>()
  for (const d of drafts) {
    const { entry, name } = d
    // With no problem found, every profile has both credentials.
    const clientId = d.clientId as Credential
    const apiKey = d.apiKey as Credential
    const scope = orEnvironment(entry.scope, environment.scope)
    const loginAs = orEnvironment(entry.loginAs, environment.loginAs)
    const account = digestOf([environment.baseUrl, clientId.value])
    const tuple = digestOf([clientId.value, apiKey.value, scope ?? null, loginAs ?? null])
    group(accounts, account, name, () => ({ key: account, baseUrl: environment.baseUrl, clientId: clientId.value, profiles: [] }))
    group(tuples, tuple, name, () => ({ key: tuple, clientId: clientId.value, apiKey: apiKey.value, scope, loginAs, profiles: [], account }))
    const own = { allowMethods: d.allowMethods, allowPaths: d.allowPaths, denyPaths: d.denyPaths ?? Object.freeze([]) }
    const policy = compilePolicy(environment, own)
    if (policy.methods?.size === 0) warnings.push(`${d.label}: allowMethods leaves no method that PROXY_ALLOW_METHODS allows; every request of it gets 405`)
    const rateLimit = entry.rateLimit ?? 0
    profiles.set(name, Object.freeze({
      name,
      digests: new Set([...d.listed, ...d.inFile]),
      keyless: entry.keyless === true,
      accessKeysFile: entry.accessKeysFile,
      clientId,
      apiKey,
      scope,
      loginAs,
      ...own,
      policy,
      maxInFlight: entry.maxInFlight ?? 0,
      rateLimit,
      rateBurst: rateLimit === 0 ? 0 : entry.rateBurst ?? Math.max(1, Math.ceil(rateLimit)),
      tuple,
      account
    }))
  }
  const freezeAll = <T extends { profiles: string[] }>(items: Iterable<T>): readonly T[] =>
    Object.freeze([...items].map((item) => Object.freeze({ ...item, profiles: Object.freeze(item.profiles) })))
  return Object.freeze({
    file: path,
    profiles,
    keyless: [...profiles.values()].find((p) => p.keyless),
    tuples: freezeAll(tuples.values()),
    accounts: freezeAll(accounts.values()),
    warnings: Object.freeze(warnings)
  })
}

/** A description and the files it was read from. */
export interface ProfilesRead {
  readonly description: ProfilesDescription
  /** The trimmed text used of the profiles file and of each file it names, by path: to compare, never to log. */
  readonly texts: ReadonlyMap<string, string>
  /** Named files that were empty, unreadable or invalid and kept their last good text, with the first problem found (never a value). */
  readonly kept: ReadonlyMap<string, string>
}

/**
 * Reads PROXY_PROFILES_FILE and every file it names, and returns the frozen description, or throws
 * one ConfigError listing every problem (one line each, naming the profile and the field, never a
 * key, a digest or a credential). Used at start and, the same way, for every reload.
 */
export function loadProfiles (path: string, environment: ProfilesEnvironment): ProfilesDescription {
  return readProfiles(path, environment).description
}

/**
 * loadProfiles() for a reload: a named file found in `lastGood` (the texts of the files the applied
 * description names) that is now empty, unreadable or invalid keeps that text (SPEC §10); any other
 * problem throws as at start.
 */
export function readProfiles (path: string, environment: ProfilesEnvironment, lastGood: ReadonlyMap<string, string> = new Map()): ProfilesRead {
  const problems: string[] = []
  const warnings: string[] = []
  const reading: Reading = { lastGood, texts: new Map(), kept: new Map() }
  const data = readYaml(path, problems, reading)
  if (problems.length > 0) throw new ConfigError(problems)
  problems.push(...shapeProblems(data))
  const profiles = isMap(data) ? data.profiles : undefined
  if (!isMap(profiles)) throw new ConfigError(problems)
  // The schema has reported whatever is wrong with the shape; the checks past it read only maps, and their well-formed fields.
  const entries = Object.entries(profiles)
  const names = entries.map(([name]) => name)
  const drafts = entries
    .filter((named): named is [string, Record<string, unknown>] => isMap(named[1]))
    .map(([name, entry]) => draft(name, profileLabel(name, names), entry, environment, reading, problems, warnings))
  crossProblems(drafts, environment, problems, warnings)
  if (problems.length > 0) throw new ConfigError(problems)
  return { description: describe(path, drafts, environment, warnings), texts: reading.texts, kept: reading.kept }
}
