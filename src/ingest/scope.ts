/** What a key may write: an out-of-scope entity becomes a rejected line (or a 403), never a silent drop. */
import { canWrite, type Principal } from "../auth/api-keys.ts";
import type { EntityDef } from "../entity/entity.ts";

export function scopeRefusal(principal: Principal, entity: { name: string }): string {
  return `key ${principal.keyId} may not write entity ${entity.name} (its scopes: ${[...principal.scopes].join(", ")})`;
}

/** The parser's guard: the refusal for an entity the key may not write, undefined for one it may. */
export const entityGuard = (principal: Principal) => (entity: EntityDef) => (canWrite(principal, entity.name) ? undefined : scopeRefusal(principal, entity));
