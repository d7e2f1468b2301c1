/**
 * The ingest service: what a message, a batch or a stream does, in every mode (best effort,
 * atomic, idempotent, asynchronous, the queue fallback). Rows reach the database only through the
 * request's Writer (src/db/writers.ts); the routes turn what comes back into HTTP answers.
 */
import type { Principal } from "../auth/api-keys.ts";
import { canWrite } from "../auth/api-keys.ts";
import { checkKey, claimStatement, compactAnswer, fingerprint, storeAnswer, storedAnswer } from "../db/idempotency.ts";
import { ISOLATE } from "../db/isolate.ts";
import { database } from "../db/neon.ts";
import { explainMismatch } from "../db/schema-level.ts";
import { openWriter } from "../db/writers.ts";
import { type EntityDef, groupRows } from "../entity/entity.ts";
import type { Settings } from "../env.ts";
import { IngestError, logCause, SchemaMismatch, TransientDatabaseError } from "../errors.ts";
import { enqueue } from "../queue/async-ingest.ts";
import { entityByName } from "../registry.ts";
import type { RequestMeter } from "../stats/stats-delta.ts";
import { writeRows } from "../writer/batch.ts";
import { RowsRejected, type SingleWrite, type Writer } from "../writer/port.ts";
import { type LineError, type RowToWrite, withSource } from "../writer/rows.ts";
import { type BodyLimit, decodeLines, rawBodyStream, readAll, readBody } from "./body.ts";
import { bodyFormat } from "./content-type.ts";
import { bodyLimit, feed } from "./feed.ts";
import { IngestRun, outcomeOf, Tally, type Totals } from "./ingest-run.ts";
import { type ParsedBody, parseBody } from "./parse-messages.ts";
import { originOf, Quarantine, rejectionsLink } from "./quarantine.ts";

/** One ingest request, as the service needs it. */
export interface IngestCall {
  env: Env;
  settings: Settings;
  request: Request;
  principal: Principal;
  requestId: string;
  meter: RequestMeter;
  /** ?entity: every JSON record is this entity. */
  forced?: EntityDef;
  /** Work the request finishes after its answer (ctx.waitUntil): closing its writer's connection. */
  afterAnswer(work: Promise<unknown>): void;
}

/** 202: the rows are on the queue, and the receipt follows them. */
export interface Accepted {
  kind: "accepted";
  receipt: string;
  fallback: boolean;
  body: Record<string, unknown>;
}

export type MessageOutcome = Accepted | { kind: "written"; body: Record<string, unknown> };

export type BatchOutcome =
  | Accepted
  | { kind: "replayed"; status: number; body: object }
  | { kind: "answered"; outcome: "success" | "partial" | "error"; body: Record<string, unknown> };

export type StreamEnd = { kind: "summary"; body: Record<string, unknown> } | { kind: "failure"; error: unknown; body: Record<string, unknown> };

export interface StreamListener {
  /** After each committed flush: the totals so far and the lines rejected since the last call. */
  progress(totals: Totals, errors: LineError[]): void;
  rejected(error: LineError): void;
  /** ?progress=line: after each line. */
  line?(lineNumber: number, totals: Totals): void;
}

export function scopeRefusal(principal: Principal, entity: { name: string }): string {
  return `key ${principal.keyId} may not write entity ${entity.name} (its scopes: ${[...principal.scopes].join(", ")})`;
}

/** Out-of-scope entities become rejected lines, never a silent drop. */
const entityGuard = (principal: Principal) => (entity: EntityDef) => (canWrite(principal, entity.name) ? undefined : scopeRefusal(principal, entity));

/** A schema mismatch is explained from a fresh read of the migration journal; anything else passes as it is. */
export async function explained(settings: Settings, error: unknown): Promise<unknown> {
  return error instanceof SchemaMismatch ? explainMismatch(database(settings, ISOLATE), ISOLATE, error) : error;
}

/** The request's quarantine: its rejected lines are stored with the request id and key id. */
function quarantineOf(call: IngestCall, flushEarly = false): Quarantine {
  const { settings } = call;
  const format = bodyFormat(call.request.headers.get("content-type")) === "text" ? "text" : "json";
  const limits = { rawBytes: settings.QUARANTINE_RAW_BYTES, perRequest: settings.QUARANTINE_MAX_PER_REQUEST };
  return new Quarantine(database(settings, ISOLATE), originOf(call.requestId, call.principal, call.forced), format, limits, call.meter, flushEarly);
}

/** Runs `work` with the request's writer, closed whatever happens; a schema mismatch comes out explained. */
async function withWriter<T>(call: IngestCall, work: (writer: Writer) => Promise<T>): Promise<T> {
  const writer = openWriter(call.settings, ISOLATE, call.meter);
  try {
    return await work(writer);
  } catch (error) {
    throw await explained(call.settings, error);
  } finally {
    // Closing a WebSocket costs a round trip the client need not wait for.
    call.afterAnswer(writer.close());
  }
}

/** Puts rows on the queue (their rejections not stored yet go with them: the database may be down). */
async function accepted(
  call: IngestCall,
  rows: RowToWrite[],
  errors: LineError[],
  failed: number,
  fallback: boolean,
  quarantine: Quarantine,
): Promise<Accepted> {
  const rejections = quarantine.take();
  const { ingestId } = await enqueue(call.env, call.principal.keyId, rows, errors, failed, { origin: quarantine.origin, rejections });
  const receipt = `/ingest/receipts/${ingestId}`;
  const over = quarantine.overCap > 0 ? { rejections_over_cap: quarantine.overCap } : {};
  const body = {
    status: "accepted",
    ingest_id: ingestId,
    receipt,
    queued: rows.length,
    failed,
    errors,
    request_id: call.requestId,
    rejections: rejectionsLink(call.requestId),
    ...over,
    ...(fallback ? { fallback: true } : {}),
  };
  return { kind: "accepted", receipt, fallback, body };
}

/** One message: written with its derived rows in one transaction, answered with the record's real id. */
export async function ingestMessage(call: IngestCall): Promise<MessageOutcome> {
  const { settings, meter, principal } = call;
  const format = bodyFormat(call.request.headers.get("content-type"));
  // One message is at most one line's worth.
  const { text, invalidLines } = decodeLines(
    await readBody(call.request, { bytes: settings.MAX_LINE_BYTES, setting: "MAX_LINE_BYTES", idleMs: settings.BODY_IDLE_TIMEOUT_MS }, meter),
  );
  const parsed = parseBody(format, text, invalidLines, { forced: call.forced });
  if (parsed.messages === 0) throw new IngestError("invalid_message", "the body holds no message");
  if (parsed.messages > 1) throw new IngestError("invalid_message", `the body holds ${parsed.messages} messages; send one here, or POST them to /ingest/batch`);
  const quarantine = quarantineOf(call);
  /** A refused message is kept like a rejected line of a batch (its body is the line). */
  const refuse = async (entity: string, error: LineError, code: "invalid_message" | "forbidden", details: Record<string, unknown> = {}) => {
    meter.messages[entity] = { inserted: 0, duplicates: 0, failed: 1 };
    quarantine.add([error]);
    await quarantine.flush();
    return new IngestError(code, error.message, { entity: error.entity, ...details, ...quarantine.summary() });
  };
  const error = parsed.errors[0];
  if (error) {
    const { line, field, position } = error;
    throw await refuse(error.entity ?? "(unknown)", error, "invalid_message", { line, field, position });
  }
  const outOfScope = parsed.rows.find((r) => !canWrite(principal, r.entity.name));
  if (outOfScope) {
    const name = outOfScope.entity.name;
    throw await refuse(
      name,
      withSource({ line_number: 1, entity: name, message: scopeRefusal(principal, outOfScope.entity), line: "" }, { raw: text, reason: "scope" }),
      "forbidden",
    );
  }
  const [parent, ...derived] = parsed.rows;
  const children = [...groupRows(derived)].map(([entity, rows]) => ({ entity, rows }));
  let written: SingleWrite;
  try {
    written = await withWriter(call, (writer) => writer.writeOne(parent.entity, parent.json, children));
  } catch (error) {
    if (error instanceof TransientDatabaseError && settings.ASYNC_FALLBACK) return accepted(call, parsed.rows, [], 0, true, quarantine);
    if (!(error instanceof RowsRejected)) throw error;
    const name = parent.entity.name;
    const message = `the database rejected the row: ${error.message} (SQLSTATE ${error.sqlState})`;
    throw await refuse(
      name,
      withSource({ line_number: 1, entity: name, message, line: "" }, { raw: text, reason: "database", sqlState: error.sqlState }),
      "invalid_message",
    );
  }
  meter.messages[parent.entity.name] = { inserted: written.duplicate ? 0 : 1, duplicates: written.duplicate ? 1 : 0, failed: 0 };
  for (const [name, counts] of Object.entries(written.children)) meter.messages[name] = { ...counts, failed: 0 };
  const body = {
    status: "success",
    entity: parent.entity.name,
    id: written.id,
    ...(written.duplicate ? { duplicate: true } : {}),
    ...(children.length > 0 ? { derived: written.children } : {}),
    timestamp: new Date().toISOString(),
  };
  return { kind: "written", body };
}

export interface BatchOptions {
  /** Every line or none, in one transaction. */
  atomic: boolean;
  /** 202 once the rows are on the queue. */
  async: boolean;
  /** A replay with the same key and body gets the stored answer; the key commits with the rows. */
  idempotencyKey?: string;
}

/**
 * A batch is parsed whole (at most MAX_BATCH_ITEMS messages; a 413 writes nothing), then written:
 * best effort (bad lines reported, a chunk the database refuses bisected), or atomic and
 * idempotent ones in one transaction.
 */
export async function ingestBatch(call: IngestCall, options: BatchOptions): Promise<BatchOutcome> {
  const started = Date.now();
  const { settings, principal } = call;
  const db = database(settings, ISOLATE);
  const limit = bodyLimit(settings, bodyFormat(call.request.headers.get("content-type")), true);
  const key = options.idempotencyKey;
  let request = call.request;
  let hash = "";
  if (key !== undefined) {
    checkKey(key);
    // The body is needed twice (fingerprint, then parsing); a batch is capped at MAX_BATCH_BYTES anyway.
    const raw = await readAll(rawBodyStream(request, limit));
    hash = await fingerprint(request, raw);
    const stored = await storedAnswer(db, principal.keyId, key, hash, settings.IDEMPOTENCY_TTL_HOURS);
    if (stored) {
      // The key's scopes may have shrunk since: a replay answers only what the key may still write.
      const refused = Object.keys((stored.body as { entities?: object }).entities ?? {}).find((name) => !canWrite(principal, name));
      if (refused) throw new IngestError("forbidden", scopeRefusal(principal, entityByName(refused) ?? { name: refused }), { entity: refused });
      return { kind: "replayed", status: stored.status, body: stored.body as object };
    }
    request = new Request(request.url, { method: "POST", headers: request.headers, body: raw });
  }

  if (options.async) {
    const { parsed, errors, tally, quarantine } = await parseBatch(call, request, limit);
    return accepted(call, parsed.rows, errors, tally.totals.failed, false, quarantine);
  }
  return withWriter(call, async (writer) => {
    writer.prepare();
    const { parsed, errors, reject, tally, quarantine } = await parseBatch(call, request, limit);
    let rolledBack: string | undefined;
    let rows = parsed.rows;
    if (options.atomic && tally.totals.failed > 0) {
      rolledBack = `atomic batch: nothing was written because ${tally.totals.failed} of ${parsed.messages} messages were rejected`;
    } else if (options.atomic || key !== undefined) {
      // An idempotent batch's rejections commit in its transaction, with its rows and its key.
      const kept = quarantine.statements();
      try {
        tally.written(
          await writer.writeTransaction(rows, [
            ...(key !== undefined ? [claimStatement(principal.keyId, key, hash, settings.IDEMPOTENCY_TTL_HOURS)] : []),
            ...kept.statements,
          ]),
        );
        kept.committed();
        rows = [];
      } catch (error) {
        if (!(error instanceof RowsRejected)) throw error;
        // Not atomic: best effort after all, bisecting to the bad rows; the key is stored with the answer below.
        if (options.atomic)
          rolledBack = `atomic batch rolled back, nothing was written: the database rejected a row: ${error.message} (SQLSTATE ${error.sqlState})`;
      }
    }
    if (rolledBack) {
      tally.notWritten(rows);
      // The client has every error and resends the batch: nothing is kept.
      quarantine.discard();
      rows = [];
    }
    const rejections = quarantine.take();
    try {
      const written = await writeRows(rows, writer);
      await quarantine.store(rejections, written.failed);
      tally.written(written);
      written.failed.forEach(reject);
    } catch (error) {
      quarantine.restore(rejections);
      if (!(error instanceof IngestError && error.code === "database_unavailable" && settings.ASYNC_FALLBACK)) throw error;
      return accepted(call, rows, errors, tally.totals.failed, true, quarantine);
    }
    const body = batchAnswer(tally.totals, errors, rolledBack, Date.now() - started, quarantine.summary());
    if (key !== undefined) await storeAnswer(db, principal.keyId, key, hash, { status: body.status, body: compactAnswer(body.body) });
    return { kind: "answered", outcome: body.outcome, body: body.body };
  });
}

/** A batch's body parsed whole, its rejections counted and handed to the quarantine. */
async function parseBatch(call: IngestCall, request: Request, limit: BodyLimit) {
  const { settings, meter, principal } = call;
  const parsed: ParsedBody = { rows: [], errors: [], messages: 0, chars: 0 };
  await feed(
    request,
    settings,
    { sink: parsed, step: async () => {} },
    { forced: call.forced, guard: entityGuard(principal), maxMessages: settings.MAX_BATCH_ITEMS, limit },
    meter,
  );
  if (parsed.messages === 0) throw new IngestError("invalid_message", "the body holds no messages");

  const tally = new Tally();
  meter.messages = tally.totals.entities;
  const errors: LineError[] = [];
  const reject = (error: LineError) => {
    tally.rejected(error);
    if (errors.length < settings.MAX_ERRORS_REPORTED) errors.push(error);
  };
  parsed.errors.forEach(reject);
  const quarantine = quarantineOf(call);
  quarantine.add(parsed.errors);
  return { parsed, errors, reject, tally, quarantine };
}

/** The status code an outcome is answered with: also what an idempotent batch stores. */
export const BATCH_STATUS = { success: 200, partial: 207, error: 400 } as const;

function batchAnswer(totals: Totals, errors: LineError[], rolledBack: string | undefined, durationMs: number, quarantine: Record<string, unknown>) {
  const outcome = rolledBack ? "error" : outcomeOf(totals);
  const message =
    rolledBack ??
    (outcome === "partial"
      ? `${totals.failed} of ${totals.processed} messages rejected; the rest were written`
      : outcome === "error"
        ? `nothing could be written: all ${totals.failed} messages rejected`
        : undefined);
  return {
    outcome,
    status: BATCH_STATUS[outcome],
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

/**
 * A stream: written in flushes while it is read, so memory does not grow with the body. Ends with
 * a summary, or a failure that says what was committed (never thrown: the answer has started).
 */
export async function ingestStream(call: IngestCall, listener: StreamListener, isGone: () => boolean): Promise<StreamEnd> {
  const started = Date.now();
  const { settings, meter } = call;
  // A stream holds nothing whole: many rejected lines make a flush of their own.
  const quarantine = quarantineOf(call, true);
  const writer = openWriter(settings, ISOLATE, meter);
  writer.prepare();
  // A snapshot: the event is serialised later, when the client reads it.
  const run = new IngestRun(writer, {
    quarantine,
    onCommit: (totals, errors) => listener.progress(structuredClone(totals), errors),
    onError: (error) => listener.rejected(error),
  });
  meter.messages = run.totals.entities;
  const onLine = listener.line && ((lineNumber: number) => listener.line!(lineNumber, structuredClone(run.totals)));
  try {
    await feed(call.request, settings, run, { forced: call.forced, onLine, guard: entityGuard(call.principal) }, meter);
    const totals = await run.finish();
    const { processed: total, inserted, duplicates, failed, entities } = totals;
    return {
      kind: "summary",
      body: { status: outcomeOf(totals), total, inserted, duplicates, failed, entities, duration_ms: Date.now() - started, ...quarantine.summary() },
    };
  } catch (thrown) {
    logCause(call.requestId, "/ingest/stream", thrown);
    const error = await explained(settings, thrown);
    const { processed, inserted, duplicates, failed } = await run.abort();
    const committed = { processed, inserted, duplicates, failed };
    if (isGone() || (error instanceof IngestError && error.code === "client_closed")) {
      // The client is gone: what was committed stays committed; say how far we got.
      console.log(JSON.stringify({ event: "stream_aborted", route: "/ingest/stream", committed, reason: String(error) }));
    }
    return { kind: "failure", error, body: { committed, duration_ms: Date.now() - started, ...quarantine.summary() } };
  } finally {
    call.afterAnswer(writer.close());
  }
}

/** Rows a writer takes in one statement (or one COPY), for GET /limits. */
export const rowsPerStatement = (settings: Settings): number => openWriter(settings, ISOLATE).limits.maxRows;
