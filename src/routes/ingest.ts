/** POST /ingest/message and POST /ingest/batch: decode → parse → write → an honest answer. */
import type { Context } from "hono";
import type { AppEnv } from "../app.ts";
import { canWrite, type Principal } from "../auth/api-keys.ts";
import { database, neonRunner, writeOne } from "../db/neon.ts";
import { settingsOf } from "../env.ts";
import { IngestError } from "../errors.ts";
import { RowsRejected } from "../ingest/batch-writer.ts";
import { bodyStream, decodeLines, readAll } from "../ingest/body.ts";
import { bodyFormat } from "../ingest/content-type.ts";
import type { EntityDef } from "../ingest/entity.ts";
import { bodyLimit, feed } from "../ingest/feed.ts";
import { IngestRun } from "../ingest/ingest-run.ts";
import { parseBody, type LineError } from "../ingest/parse-messages.ts";
import { entityByName } from "../ingest/registry.ts";
import { IngestQuery, MessageQuery } from "./schemas.ts";

export function scopeRefusal(principal: Principal, entity: EntityDef): string {
  return `key ${principal.keyId} may not write entity ${entity.name} (its scopes: ${[...principal.scopes].join(", ")})`;
}

/** Out-of-scope entities become rejected lines, never a silent drop. */
export const entityGuard = (principal: Principal) => (entity: EntityDef) => (canWrite(principal, entity.name) ? undefined : scopeRefusal(principal, entity));

/** The query, checked with the documented zod schema; ?entity=Order (or O) makes every JSON record that entity. */
export function ingestQuery(c: Context<AppEnv>, schema: typeof IngestQuery | typeof MessageQuery = MessageQuery): { forced?: EntityDef; progress?: "chunk" | "line" } {
  const repeated = Object.entries(c.req.queries()).find(([, values]) => values.length > 1);
  if (repeated) throw new IngestError("bad_request", `query parameter ${repeated[0]} is given ${repeated[1].length} times; give it once`);
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = issue.code === "unrecognized_keys" ? issue.keys.join(", ") : String(issue.path[0]);
    throw new IngestError("bad_request", `query parameter ${name}: ${issue.message}`);
  }
  const { entity } = parsed.data;
  const progress = "progress" in parsed.data ? (parsed.data.progress as "chunk" | "line" | undefined) : undefined;
  return { forced: entity === undefined ? undefined : entityByName(entity), progress };
}

export async function ingestMessage(c: Context<AppEnv>) {
  const settings = settingsOf(c.env);
  const meter = c.get("meter");
  const format = bodyFormat(c.req.header("content-type"));
  const { forced } = ingestQuery(c);
  // One message is at most one line's worth.
  const { text, invalidLines } = decodeLines(await readAll(bodyStream(c.req.raw, { bytes: settings.MAX_LINE_BYTES, setting: "MAX_LINE_BYTES" }, meter)));
  const parsed = parseBody(format, text, invalidLines, { forced });
  if (parsed.messages === 0) throw new IngestError("invalid_message", "the body holds no message");
  if (parsed.messages > 1) throw new IngestError("invalid_message", `the body holds ${parsed.messages} messages; send one here, or POST them to /ingest/batch`);
  const error = parsed.errors[0];
  if (error) {
    const { message, entity, line, field, position } = error;
    meter.messages[entity ?? "(unknown)"] = { inserted: 0, duplicates: 0, failed: 1 };
    throw new IngestError("invalid_message", message, { entity, line, field, position });
  }
  const principal = c.get("principal");
  const refused = parsed.rows.find((r) => !canWrite(principal, r.entity.name));
  if (refused) {
    meter.messages[refused.entity.name] = { inserted: 0, duplicates: 0, failed: 1 };
    throw new IngestError("forbidden", scopeRefusal(principal, refused.entity), { entity: refused.entity.name });
  }
  const [parent, ...derived] = parsed.rows;
  const children = new Map<EntityDef, string[]>();
  for (const r of derived) {
    if (!children.has(r.entity)) children.set(r.entity, []);
    children.get(r.entity)!.push(r.json);
  }
  let written;
  try {
    written = await writeOne(database(settings), parent.entity, parent.json, [...children].map(([entity, rows]) => ({ entity, rows })), meter);
  } catch (error) {
    if (error instanceof RowsRejected) {
      meter.messages[parent.entity.name] = { inserted: 0, duplicates: 0, failed: 1 };
      throw new IngestError("invalid_message", `the database rejected the row: ${error.message} (SQLSTATE ${error.sqlState})`, { entity: parent.entity.name });
    }
    throw error;
  }
  meter.messages[parent.entity.name] = { inserted: written.duplicate ? 0 : 1, duplicates: written.duplicate ? 1 : 0, failed: 0 };
  for (const [name, counts] of Object.entries(written.children)) meter.messages[name] = { ...counts, failed: 0 };
  return c.json({
    status: "success",
    entity: parent.entity.name,
    id: written.id,
    ...(written.duplicate ? { duplicate: true } : {}),
    ...(children.size > 0 ? { derived: written.children } : {}),
    timestamp: new Date().toISOString(),
  });
}

export async function ingestBatch(c: Context<AppEnv>) {
  const started = Date.now();
  const settings = settingsOf(c.env);
  const cap = settings.MAX_ERRORS_REPORTED;
  const errors: LineError[] = [];
  const meter = c.get("meter");
  // A batch is written only once it is whole (at most MAX_BATCH_ITEMS messages): a 413 writes nothing.
  const run = new IngestRun(neonRunner(database(settings), meter), { flushRows: Infinity, flushMs: Infinity, onError: (e) => void (errors.length < cap && errors.push(e)) });
  meter.messages = run.totals.entities;
  const limit = bodyLimit(settings, bodyFormat(c.req.header("content-type")), true);
  await feed(c.req.raw, settings, run, { forced: ingestQuery(c).forced, guard: entityGuard(c.get("principal")), maxMessages: settings.MAX_BATCH_ITEMS, limit }, meter);
  const totals = await run.finish();
  if (run.sink.messages === 0) throw new IngestError("invalid_message", "the body holds no messages");
  const committed = totals.inserted + totals.duplicates;
  const status = totals.failed === 0 ? "success" : committed > 0 ? "partial" : "error";
  const message = status === "partial" ? `${totals.failed} of ${totals.processed} messages rejected; the rest were written` : status === "error" ? `nothing could be written: all ${totals.failed} messages rejected` : undefined;
  return c.json(
    {
      status,
      ...(message ? { message } : {}),
      processed: totals.processed,
      inserted: totals.inserted,
      duplicates: totals.duplicates,
      failed: totals.failed,
      errors: errors.sort((a, b) => a.line_number - b.line_number),
      ...(totals.failed > errors.length ? { errors_truncated: true, errors_total: totals.failed } : {}),
      entities: totals.entities,
      duration_ms: Date.now() - started,
    },
    status === "success" ? 200 : status === "partial" ? 207 : 400,
  );
}
