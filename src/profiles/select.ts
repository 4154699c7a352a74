// Which profile a request belongs to, from its x-proxy-key header: one hash and one lookup per request.
import { headerDigest } from './digest.js'
import type { Profile, ProfilesDescription } from './file.js'

/**
 * The profile for an `x-proxy-key` value: the keyless profile when the header is absent, undefined
 * (401 PROXY_ACCESS_DENIED) for an unknown key, an empty header, a repeated header, or no key
 * where no profile is keyless.
 */
export type SelectProfile = (header: string | string[] | undefined) => Profile | undefined

/**
 * Built once per description. The key itself is never compared: its SHA-256 digest is looked up in
 * a Map of every profile's digests. Hashing costs the same for any key of a given length, and what
 * the lookup's timing could tell is about digests, which the design already treats as public (they
 * sit in a ConfigMap): learning one gives no key without a preimage of SHA-256. So a lookup is as
 * safe as comparing against each digest with timingSafeEqual, and costs the same for 2 keys or 2,000.
 */
export function createSelector (description: Pick<ProfilesDescription, 'profiles' | 'keyless'>): SelectProfile {
  const byDigest = new Map<string, Profile>()
  for (const profile of description.profiles.values()) {
    for (const digest of profile.digests) byDigest.set(digest, profile)
  }
  const keyless = description.keyless

  return function selectProfile (header) {
    if (header === undefined) return keyless
    // Node joins a repeated header into one string; an array would be a caller's doing, and is refused.
    if (typeof header !== 'string' || header === '') return undefined
    return byDigest.get(headerDigest(header))
  }
}
