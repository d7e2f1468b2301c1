/** Lookups over the generated registry: by wire prefix, by name, and by the keys of a JSON record. */

import type { EntityDef } from "./entity/entity.ts";
import { ENTITIES } from "./generated/registry.ts";

export { ENTITIES, REGISTRY_VERSION, SCHEMA_LEVEL, SCHEMA_MIGRATIONS } from "./generated/registry.ts";

const byPrefix = new Map(ENTITIES.map((e) => [e.prefix, e]));
const byName = new Map(ENTITIES.map((e) => [e.name, e]));
const keysOf = new Map(ENTITIES.map((e) => [e, new Set([...e.fields, ...e.children.map((c) => c.field)])]));

export const PREFIXES = ENTITIES.map((e) => e.prefix).join(", ");
export const NAMES = ENTITIES.map((e) => e.name).join(", ");

export const entityByPrefix = (prefix: string): EntityDef | undefined => byPrefix.get(prefix);

/** An entity by name or by prefix ("Order" or "O"). */
export const entityByName = (name: string): EntityDef | undefined => byName.get(name) ?? byPrefix.get(name);

/**
 * The entity a JSON record without an "entity" key is for: the one whose fields include every key
 * of the record; failing that, the one sharing most keys (its parser then names the odd key).
 */
export function entityForKeys(keys: string[]): EntityDef | "ambiguous" | undefined {
  let best: EntityDef | undefined;
  let bestShared = 0;
  const complete: EntityDef[] = [];
  for (const [entity, known] of keysOf) {
    const shared = keys.filter((k) => known.has(k)).length;
    if (shared === keys.length && shared > 0) complete.push(entity);
    if (shared > bestShared) [best, bestShared] = [entity, shared];
  }
  if (complete.length > 1) return "ambiguous";
  return complete[0] ?? best;
}
