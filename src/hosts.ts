// Host names and addresses: which are well formed, and which reach this machine only (loopback).
import { isIP } from 'node:net'

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/

/** Host header names a local client may use whatever the listener's address (a Host header writes IPv6 in brackets). */
export const LOOPBACK_NAMES: readonly string[] = Object.freeze(['localhost', '127.0.0.1', '::1', '[::1]'])

/** An IP address or a DNS host name (no port, no brackets). */
export function validHost (value: string): boolean {
  return isIP(value) !== 0 || HOST_NAME.test(value)
}

/**
 * `localhost`, 127.0.0.0/8 or ::1 (also IPv4-mapped, also in brackets as a URL's hostname writes it):
 * reachable from this machine only.
 */
export function isLoopbackHost (host: string): boolean {
  const value = host.toLowerCase().replace(/^\[(.*)\]$/, '$1')
  if (value === 'localhost' || value === '::1') return true
  // WHATWG URL parsing has already normalised IPv4 forms such as `127.1` to dotted quads.
  const v4 = value.startsWith('::ffff:') ? value.slice(7) : value
  return isIP(v4) === 4 && v4.startsWith('127.')
}
