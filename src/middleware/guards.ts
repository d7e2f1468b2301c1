/** What each kind of route asks before its handler runs: the key's scope, the rate limit, and (for writes) the schema gate. */
import { authorize } from "./authorize.ts";
import { rateLimit } from "./rate-limit.ts";
import { schemaGate } from "./schema-gate.ts";

const write = [authorize("write"), rateLimit()];

export const guards = {
  write,
  /** Writes that reach the database: refused while its schema does not match this Worker's. */
  ingest: [...write, schemaGate()],
  read: [authorize("read"), rateLimit()],
  quarantine: [authorize("quarantine"), rateLimit()],
  replay: [authorize("quarantine"), rateLimit(), schemaGate()],
  admin: [authorize("admin"), rateLimit()],
  /** No key asked: rate-limited per client address. */
  keyless: [rateLimit()],
};
