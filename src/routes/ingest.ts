/** POST /ingest/message and POST /ingest/batch: decode → parse → write → an honest answer. */
import type { Context } from "hono";
import type { AppEnv } from "../app.ts";
import { canWrite, mayRead, type Principal } from "../auth/api-keys.ts";
import { checkKey, claimStatement, fingerprint, storeAnswer, storedAnswer } from "../db/idempotency.ts";
import { database, neonRunner, writeOne, writeTransaction } from "../db/neon.ts";
import { settingsOf } from "../env.ts";
import { IngestError, TransientDatabaseError } from "../errors.ts";
import { RowsRejected } from "../ingest/batch-writer.ts";
import { decodeLines, rawBodyStream, readAll, readBody } from "../ingest/body.ts";
import { bodyFormat } from "../ingest/content-type.ts";
import type { EntityDef } from "../ingest/entity.ts";
import { bodyLimit, feed } from "../ingest/feed.ts";
import { IngestRun, type Totals } from "../ingest/ingest-run.ts";
import { parseBody, withSource, type LineError, type RowToWrite } from "../ingest/parse-messages.ts";
import { originOf, Quarantine, rejectionsLink, type RejectionRecord } from "../ingest/quarantine.ts";
import { enqueue, receipt } from "../queue/async-ingest.ts";
import type { Receipt } from "../queue/receipt-object.ts";
import { entityByName } from "../ingest/registry.ts";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { validQuery } from "./query.ts";
import { BatchQuery, IngestQuery, MessageQuery } from "./schemas.ts";

export function scopeRefusal(principal: Principal, entity: EntityDef): string {
  return `key ${principal.keyId} may not write entity ${entity.name} (its scopes: ${[...principal.scopes].join(", ")})`;
}

/** Out-of-scope entities become rejected lines, never a silent drop. */
export const entityGuard = (principal: Principal) => (entity: EntityDef) => (canWrite(principal, entity.name) ? undefined : scopeRefusal(principal, entity));

/** The query, checked with the documented zod schema; ?entity=Order (or O) makes every JSON record that entity. */
export function ingestQuery(c: Context<AppEnv>, schema: typeof IngestQuery | typeof MessageQuery | typeof BatchQuery = MessageQuery): { forced?: EntityDef; progress?: "chunk" | "line"; atomic: boolean; async: boolean } {
  const data = validQuery(c, schema);
  const { entity } = data;
  const progress = "progress" in data ? (data.progress as "chunk" | "line" | undefined) : undefined;
  const atomic = "atomic" in data && data.atomic === "true";
  const async = ("mode" in data && data.mode === "async") || /\brespond-async\b/i.test(c.req.header("prefer") ?? "");
  return { forced: entity === undefined ? undefined : entityByName(entity), progress, atomic, async };
}

/** The request's quarantine: its rejected lines are stored with the request id and key id. */
export function quarantineFor(c: Context<AppEnv>, forced: EntityDef | undefined, flushEarly = false): Quarantine {
  const settings = settingsOf(c.env);
  const format = bodyFormat(c.req.header("content-type")) === "text" ? "text" : "json";
  return new Quarantine(database(settings), originOf(c.get("requestId"), c.get("principal"), forced), format, { rawBytes: settings.QUARANTINE_RAW_BYTES, perRequest: settings.QUARANTINE_MAX_PER_REQUEST }, c.get("meter"), flushEarly);
}

export async function ingestMessage(c: Context<AppEnv>) {
  const settings = settingsOf(c.env);
  const meter = c.get("meter");
  const format = bodyFormat(c.req.header("content-type"));
  const { forced } = ingestQuery(c);
  // One message is at most one line's worth.
  const { text, invalidLines } = decodeLines(await readBody(c.req.raw, { bytes: settings.MAX_LINE_BYTES, setting: "MAX_LINE_BYTES", idleMs: settings.BODY_IDLE_TIMEOUT_MS }, meter));
  const parsed = parseBody(format, text, invalidLines, { forced });
  if (parsed.messages === 0) throw new IngestError("invalid_message", "the body holds no message");
  if (parsed.messages > 1) throw new IngestError("invalid_message", `the body holds ${parsed.messages} messages; send one here, or POST them to /ingest/batch`);
  const quarantine = quarantineFor(c, forced);
  /** A refused message is kept like a rejected line of a batch (its body is the line). */
  const keep = async (error: LineError) => {
    quarantine.add([error]);
    await quarantine.flush();
    return quarantine.summary();
  };
  const error = parsed.errors[0];
  if (error) {
    const { message, entity, line, field, position } = error;
    meter.messages[entity ?? "(unknown)"] = { inserted: 0, duplicates: 0, failed: 1 };
    throw new IngestError("invalid_message", message, { entity, line, field, position, ...(await keep(error)) });
  }
  const principal = c.get("principal");
  const refused = parsed.rows.find((r) => !canWrite(principal, r.entity.name));
  if (refused) {
    meter.messages[refused.entity.name] = { inserted: 0, duplicates: 0, failed: 1 };
    const message = scopeRefusal(principal, refused.entity);
    const kept = await keep(withSource({ line_number: 1, entity: refused.entity.name, message, line: "" }, { raw: text, reason: "scope" }));
    throw new IngestError("forbidden", message, { entity: refused.entity.name, ...kept });
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
    if (error instanceof TransientDatabaseError && settings.ASYNC_FALLBACK) return accepted(c, parsed.rows, [], 0, true, quarantine);
    if (error instanceof RowsRejected) {
      meter.messages[parent.entity.name] = { inserted: 0, duplicates: 0, failed: 1 };
      const message = `the database rejected the row: ${error.message} (SQLSTATE ${error.sqlState})`;
      const kept = await keep(withSource({ line_number: 1, entity: parent.entity.name, message, line: "" }, { raw: text, reason: "database", sqlState: error.sqlState }));
      throw new IngestError("invalid_message", message, { entity: parent.entity.name, ...kept });
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

/**
 * POST /ingest/batch. Best effort by default: valid lines are written, bad ones reported, and a
 * chunk the database refuses is bisected. ?atomic=true: every line or none, in one transaction.
 * Idempotency-Key: a replay gets the stored answer; the key commits with the rows.
 */
export async function ingestBatch(c: Context<AppEnv>) {
  const started = Date.now();
  const settings = settingsOf(c.env);
  const db = database(settings);
  const meter = c.get("meter");
  const { forced, atomic, async: respondAsync } = ingestQuery(c, BatchQuery);
  const format = bodyFormat(c.req.header("content-type"));
  const limit = bodyLimit(settings, format, true);

  const key = c.req.header("idempotency-key");
  let request = c.req.raw;
  let hash = "";
  if (key !== undefined) {
    checkKey(key);
    // The body is needed twice (fingerprint, then parsing); a batch is capped at MAX_BATCH_BYTES anyway.
    const raw = await readAll(rawBodyStream(c.req.raw, limit));
    hash = await fingerprint(c.req.raw, raw);
    const stored = await storedAnswer(db, c.get("principal").keyId, key, hash);
    if (stored) {
      // The key's scopes may have shrunk since: a replay answers only what the key may still write.
      const entities = Object.keys((stored.body as { entities?: object }).entities ?? {});
      const refused = entities.find((name) => !canWrite(c.get("principal"), name));
      if (refused) throw new IngestError("forbidden", scopeRefusal(c.get("principal"), entityByName(refused)!), { entity: refused });
      c.header("Idempotent-Replayed", "true");
      return c.json(stored.body as object, stored.status as ContentfulStatusCode);
    }
    request = new Request(c.req.raw.url, { method: "POST", headers: c.req.raw.headers, body: raw });
  }

  const cap = settings.MAX_ERRORS_REPORTED;
  const errors: LineError[] = [];
  // A batch is written only once it is whole (at most MAX_BATCH_ITEMS messages): a 413 writes nothing.
  const quarantine = quarantineFor(c, forced);
  const run = new IngestRun(neonRunner(db, meter), { flushRows: Infinity, flushMs: Infinity, onError: (e) => void (errors.length < cap && errors.push(e)), quarantine });
  meter.messages = run.totals.entities;
  await feed(request, settings, run, { forced, guard: entityGuard(c.get("principal")), maxMessages: settings.MAX_BATCH_ITEMS, limit }, meter);
  if (run.sink.messages === 0) throw new IngestError("invalid_message", "the body holds no messages");

  if (respondAsync) return accepted(c, run.takeRows(), errors, run.totals.failed, false, quarantine);

  let rolledBack: string | undefined;
  // Kept for the fallback: the same rows go to the queue if the database stays unreachable.
  const pending = [...run.sink.rows];
  if (atomic && run.totals.failed > 0) {
    rolledBack = `atomic batch: nothing was written because ${run.totals.failed} of ${run.sink.messages} messages were rejected`;
    run.countNotWritten(run.takeRows());
    // The client has every error and resends the batch: nothing is kept.
    quarantine.discard();
  } else if (atomic || key !== undefined) {
    const rows = run.takeRows();
    // An idempotent batch's rejections commit in its transaction, with its rows and its key.
    const kept = quarantine.statements();
    try {
      run.commit(await writeTransaction(db, rows, [...(key !== undefined ? [claimStatement(c.get("principal").keyId, key, hash)] : []), ...kept.statements], meter));
      kept.committed();
    } catch (error) {
      if (!(error instanceof RowsRejected)) throw error;
      if (atomic) {
        rolledBack = `atomic batch rolled back, nothing was written: the database rejected a row: ${error.message} (SQLSTATE ${error.sqlState})`;
        run.countNotWritten(rows);
        quarantine.discard();
      } else {
        // Best effort after all: bisect to the bad rows as usual; the key is stored with the answer below.
        run.sink.rows.push(...rows);
      }
    }
  }
  let totals: Totals;
  try {
    totals = await run.finish();
  } catch (error) {
    if (!(error instanceof IngestError && error.code === "database_unavailable" && settings.ASYNC_FALLBACK)) throw error;
    return accepted(c, pending, errors, run.totals.failed, true, quarantine);
  }
  const body = batchAnswer(totals, errors, rolledBack, Date.now() - started, quarantine.summary());
  if (key !== undefined) await storeAnswer(db, c.get("principal").keyId, key, hash, body);
  return c.json(body.body as object, body.status as ContentfulStatusCode);
}

/**
 * 202: the rows are on the queue (once the queue accepted them); the receipt follows them. The
 * rejections not stored yet go with them, and the consumer stores them (the database may be down).
 */
async function accepted(c: Context<AppEnv>, rows: RowToWrite[], errors: LineError[], failed: number, fallback: boolean, quarantine: Quarantine) {
  const rejections: RejectionRecord[] = quarantine.take();
  const { ingestId } = await enqueue(c.env, c.get("principal").keyId, rows, errors, failed, { origin: quarantine.origin, rejections });
  if (fallback) c.header("Ingest-Fallback", "queued");
  const receiptPath = `/ingest/receipts/${ingestId}`;
  c.header("Location", receiptPath);
  const requestId = quarantine.origin.requestId;
  const over = quarantine.overCap > 0 ? { rejections_over_cap: quarantine.overCap } : {};
  return c.json({ status: "accepted", ingest_id: ingestId, receipt: receiptPath, queued: rows.length, failed, errors, request_id: requestId, rejections: rejectionsLink(requestId), ...over, ...(fallback ? { fallback: true } : {}) }, 202);
}

export async function ingestReceipt(c: Context<AppEnv>) {
  if (!c.env.RECEIPTS) throw new IngestError("misconfigured", "the RECEIPTS Durable Object binding is not configured (see wrangler.toml)");
  const id = c.req.param("id") ?? "";
  if (!/^[0-9a-f-]{36}$/.test(id)) throw new IngestError("not_found", `no receipt ${JSON.stringify(id.slice(0, 64))}`);
  // The RPC type of LineError's symbol-keyed quarantine source is never; the stored receipt is a Receipt.
  const found = (await receipt(c.env.RECEIPTS, id).get()) as Receipt | undefined;
  // Another key's receipt is "not found", not "forbidden": ids cannot be probed.
  if (!found || !mayRead(c.get("principal"), found.key_id)) throw new IngestError("not_found", `no receipt ${id}`);
  return c.json(found);
}

function batchAnswer(totals: Totals, errors: LineError[], rolledBack: string | undefined, durationMs: number, quarantine: Record<string, unknown>) {
  const committed = totals.inserted + totals.duplicates;
  const outcome = rolledBack || (totals.failed > 0 && committed === 0) ? "error" : totals.failed === 0 ? "success" : "partial";
  const message = rolledBack ?? (outcome === "partial" ? `${totals.failed} of ${totals.processed} messages rejected; the rest were written` : outcome === "error" ? `nothing could be written: all ${totals.failed} messages rejected` : undefined);
  return {
    status: outcome === "success" ? 200 : outcome === "partial" ? 207 : 400,
    body: {
      status: outcome,
      ...(message ? { message } : {}),
      processed: totals.processed,
      inserted: totals.inserted,
      duplicates: totals.duplicates,
      failed: totals.failed,
      errors: errors.sort((a, b) => a.line_number - b.line_number),
      ...(totals.failed > errors.length ? { errors_truncated: true, errors_total: totals.failed } : {}),
      entities: totals.entities,
      duration_ms: durationMs,
      ...quarantine,
    },
  };
}
