/** What each kind of route asks before its handler runs: the key's scope, the rate limit, and (for writes) the schema gate. */
import { schemaRefusalFor } from "../compose.ts";
import { authorize } from "../middleware/authorize.ts";
import { rateLimit } from "../middleware/rate-limit.ts";
import { schemaGate } from "../middleware/schema-gate.ts";

const write = [authorize("write"), rateLimit()];

export const guards = {
  write,
  /** Writes that reach the database: refused while its schema does not match this Worker's. */
  ingest: [...write, schemaGate(schemaRefusalFor)],
  read: [authorize("read"), rateLimit()],
  quarantine: [authorize("quarantine"), rateLimit()],
  replay: [authorize("quarantine"), rateLimit(), schemaGate(schemaRefusalFor)],
  admin: [authorize("admin"), rateLimit()],
  /** No key asked: rate-limited per client address. */
  keyless: [rateLimit()],
};
