/**
 * What db/ keeps per isolate, in one object: the Neon client per connection string, the schema level
 * read at most once a minute, the entities whose chunks are staged after meeting existing keys, the
 * staging tables' counter, and the isolate's count of WebSockets. Made once by the composition root
 * (createDbIsolate) and passed to database(), openWriter(), schemaState(): nothing in db/ keeps a
 * module-level cache, so a test or a benchmark starts from a clean slate with a new one. Each part's
 * shape is declared by the module that uses it.
 */
import type { CopyCache } from "./copy-writer.ts";
import type { DatabaseCache } from "./neon.ts";
import type { SchemaCache } from "./schema-level.ts";

export type DbIsolate = DatabaseCache & SchemaCache & CopyCache;

export function createDbIsolate(): DbIsolate {
  // 16 WebSockets an isolate: see SocketCount (copy-socket.ts).
  return { conflicted: new Set(), stages: { next: 0 }, sockets: { open: 0, max: 16 } };
}
