/** What a key may write: an out-of-scope entity becomes a rejected line (or a 403), never a silent drop. */
import { type Principal, writableOf } from "../auth/api-keys.ts";
import type { EntityDef } from "../entity/entity.ts";
import { ENTITIES } from "../registry.ts";
import type { WriteScope } from "./parsed-body.ts";

export function scopeRefusal(principal: Principal, entity: { name: string }): string {
  return `key ${principal.keyId} may not write entity ${entity.name} (its scopes: ${[...principal.scopes].join(", ")})`;
}

/** The parsers' scope, resolved once per request: the entities the key may write; `refusal` words a line of another. */
export function writeScope(principal: Principal, refusal = (entity: EntityDef) => scopeRefusal(principal, entity)): WriteScope {
  return { writable: new Set(writableOf(principal, ENTITIES)), refusal };
}
