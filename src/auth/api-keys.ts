/**
 * API keys: the secret API_KEYS holds only SHA-256 hashes with a key id and scopes, e.g.
 *   [{"id":"loader","sha256":"9f86d0…","scopes":["write:Order","write:OrderLineItem","read"]}]
 * Scopes: "write:<Entity>" or "write:*" for ingest routes, "read" for /stats and /metrics, "admin" for
 * what other keys' requests left behind: their async receipts, and their rejected lines (to see, replay
 * and delete; a key with a write scope acts on its own only). See docs/security.md, docs/quarantine.md.
 */
import * as z from "zod/mini";

const KeyEntry = z.object({
  id: z.string().check(z.regex(/^[A-Za-z0-9._-]{1,64}$/, "a key id is 1 to 64 letters, digits, dots, dashes or underscores")),
  sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/, "sha256 must be 64 lowercase hex digits")),
  scopes: z.array(z.string().check(z.regex(/^(read|admin|write:(\*|[A-Z][A-Za-z0-9]*))$/, "scopes are read, admin, write:* or write:<Entity>"))),
});
const KeyList = z.array(KeyEntry);

export interface StoredKey {
  id: string;
  hash: Uint8Array;
  scopes: ReadonlySet<string>;
}

/** Who is calling: a key, or anonymous (key id null) where the deployment allows it. */
export interface Principal {
  keyId: string | null;
  scopes: ReadonlySet<string>;
}

export const ANONYMOUS: Principal = { keyId: null, scopes: new Set(["write:*", "read", "admin"]) };

export const canWrite = (p: Principal, entity: string) => p.scopes.has("write:*") || p.scopes.has(`write:${entity}`);
/** Those of `entities` the principal may write. */
export const writableOf = <T extends { name: string }>(p: Principal, entities: readonly T[]): T[] => entities.filter((e) => canWrite(p, e.name));
export const canRead = (p: Principal) => p.scopes.has("read");
export function canWriteAny(p: Principal): boolean {
  for (const scope of p.scopes) if (scope.startsWith("write:")) return true;
  return false;
}
export const isAdmin = (p: Principal) => p.scopes.has("admin");
/** What a request of `owner` left behind (a receipt) is the owner's own, or an admin's to see. */
export const mayRead = (p: Principal, owner: string | null) => isAdmin(p) || p.keyId === owner;

const fromHex = (hex: string) => Uint8Array.from(hex.match(/../g)!, (b) => parseInt(b, 16));

/**
 * What an isolate remembers about its keys (made once, by the composition root): the parsed secret,
 * and the digests of presented keys that matched a stored key (a client's next request skips the
 * SHA-256). Only matching keys are kept, so guesses never fill it, and whichever way the digest came
 * it is still compared with every stored hash in constant time: a key removed from API_KEYS stops
 * matching at once. A hit only tells the timing what the answer says anyway (docs/security.md).
 */
export interface KeyCache {
  parsed?: { source: string; keys: StoredKey[] };
  readonly verified: Map<string, Uint8Array>;
}

export const keyCache = (): KeyCache => ({ verified: new Map() });

/** The configured keys, parsed once per secret value; a malformed secret is a configuration error, said plainly. */
export function storedKeys(cache: KeyCache, secret: string | undefined): StoredKey[] {
  if (!secret) return [];
  if (cache.parsed?.source === secret) return cache.parsed.keys;
  let json: unknown;
  try {
    json = JSON.parse(secret);
  } catch {
    throw new Error("API_KEYS is not valid JSON");
  }
  const result = KeyList.safeParse(json);
  if (!result.success) throw new Error(`API_KEYS is malformed: ${result.error.issues[0].message}`);
  const keys = result.data.map((k) => ({ id: k.id, hash: fromHex(k.sha256), scopes: new Set(k.scopes) }));
  cache.parsed = { source: secret, keys };
  return keys;
}

export async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

const VERIFIED_MAX = 256;

/** Compares the presented key's hash with every stored hash in constant time. */
export async function findKey(cache: KeyCache, presented: string, keys: StoredKey[]): Promise<StoredKey | undefined> {
  const { verified } = cache;
  const known = verified.get(presented);
  const hash = known ?? (await sha256(presented));
  let found: StoredKey | undefined;
  for (const key of keys) {
    if (crypto.subtle.timingSafeEqual(hash, key.hash)) found ??= key;
  }
  if (found && !known) {
    if (verified.size >= VERIFIED_MAX) verified.clear();
    verified.set(presented, hash);
  }
  return found;
}
