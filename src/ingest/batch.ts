/**
 * The batch flow: best effort, atomic, idempotent (withIdempotency), asynchronous (202, the
 * queue), and the queue as the fallback when the database stays down.
 */
import { IngestError } from "../errors.ts";
import { type BodyLimit, bodyLimit } from "../limits/caps.ts";
import { writeRows } from "../writer/batch.ts";
import type { BisectingWriter } from "../writer/bisect.ts";
import { type Outcome, outcomeOf } from "../writer/counts.ts";
import { RowsRejected, type Statement } from "../writer/port.ts";
import type { LineError } from "../writer/rows.ts";
import { type Accepted, accepted, type IngestCall, quarantineOf, withWriter } from "./call.ts";
import { feed, feedLines } from "./feed.ts";
import { heldBytes, holdBatch } from "./held-batch.ts";
import { type Replayed, withIdempotency } from "./idempotency.ts";
import { IngestRun, Tally, type Totals } from "./ingest-run.ts";
import type { ParsedBody } from "./parsed-body.ts";
import { writeScope } from "./scope.ts";

type Answered = { kind: "answered"; outcome: Outcome; body: Record<string, unknown> };

export type BatchOutcome = Accepted | Replayed | Answered;

export interface BatchOptions {
  /** Every line or none, in one transaction. */
  atomic: boolean;
  /** 202 once the rows are on the queue. */
  async: boolean;
  /** A replay with the same key and body gets the stored answer; the key commits with the rows. */
  idempotencyKey?: string;
}

/**
 * A batch is read whole (at most MAX_BATCH_ITEMS messages and MAX_BATCH_BYTES; a 413 writes
 * nothing), then written: best effort (bad lines reported, a chunk the database refuses bisected),
 * or atomic and idempotent ones in one transaction.
 */
export async function ingestBatch(call: IngestCall, options: BatchOptions): Promise<BatchOutcome> {
  const started = call.now();
  const limit = bodyLimit(call.settings, call.format, true);
  return withIdempotency(
    call,
    options.idempotencyKey,
    limit,
    (request, claim): Promise<Accepted | Answered> => {
      if (options.async)
        return parseBatch(call, request, limit).then((p) => accepted(call, p.parsed.rows, p.errors, p.tally.totals.failed, false, p.quarantine));
      return withWriter(call, (writer) => writeBatch(call, writer, request, limit, options.atomic, claim, started));
    },
    (outcome) => (outcome.kind === "answered" ? { status: BATCH_STATUS[outcome.outcome], body: outcome.body } : undefined),
  );
}

/** Writes a parsed batch: in one transaction when atomic or idempotent (`claim`), else best effort; the database down: to the queue. */
async function writeBatch(
  call: IngestCall,
  writer: BisectingWriter,
  request: Request,
  limit: BodyLimit,
  atomic: boolean,
  claim: Statement | undefined,
  started: number,
): Promise<Accepted | Answered> {
  const { settings } = call;
  writer.prepare();
  if (!atomic && claim === undefined && call.format !== "json") return writeHeld(call, writer, request, limit, started);
  const { parsed, errors, reject, tally, quarantine } = await parseBatch(call, request, limit);
  let rolledBack: string | undefined;
  let rows = parsed.rows;
  if (atomic && tally.totals.failed > 0) {
    rolledBack = `atomic batch: nothing was written because ${tally.totals.failed} of ${parsed.messages} messages were rejected`;
  } else if (atomic || claim !== undefined) {
    // An idempotent batch's rejections commit in its transaction, with its rows and its key.
    const kept = quarantine.statements();
    try {
      tally.written(await writer.writeTransaction(rows, [...(claim ? [claim] : []), ...kept.statements]));
      kept.committed();
      rows = [];
    } catch (error) {
      if (!(error instanceof RowsRejected)) throw error;
      // Not atomic: best effort after all, bisecting to the bad rows; the key is stored with the answer.
      if (atomic) rolledBack = `atomic batch rolled back, nothing was written: the database rejected a row: ${error.message} (SQLSTATE ${error.sqlState})`;
    }
  }
  if (rolledBack) {
    tally.notWritten(rows);
    // The client has every error and resends the batch: nothing is kept.
    quarantine.discard();
    rows = [];
  }
  try {
    if (rows.length === 0)
      await quarantine.flush(); // all in the transaction, or nothing to write: only rejections may be left
    else {
      const written = await quarantine.hold()(writeRows(rows, writer));
      tally.written(written);
      written.failed.forEach(reject);
    }
  } catch (error) {
    if (!(error instanceof IngestError && error.code === "database_unavailable" && settings.ASYNC_FALLBACK)) throw error;
    return accepted(call, rows, errors, tally.totals.failed, true, quarantine);
  }
  const body = batchAnswer(tally.totals, errors, rolledBack, call.now() - started, quarantine.summary());
  return { kind: "answered", outcome: body.outcome, body: body.body };
}

/**
 * A best-effort batch of lines or NDJSON: held as bytes and counted first (a 413 writes nothing),
 * then parsed and written in flushes as a stream is, so its rows are never all in memory at once.
 * The answer is a whole-parsed batch's: among the errors reported, the parsers' rejections first,
 * then the rows the database refused. The database down with ASYNC_FALLBACK: every row to the queue.
 */
async function writeHeld(call: IngestCall, writer: BisectingWriter, request: Request, limit: BodyLimit, started: number): Promise<Accepted | Answered> {
  const { settings, meter } = call;
  const held = await holdBatch(request, settings, limit, meter);
  if (held.messages === 0) throw new IngestError("invalid_message", "the body holds no messages");
  const max = settings.MAX_ERRORS_REPORTED;
  const rejected: LineError[] = [];
  const refused: LineError[] = [];
  let rejections = 0;
  const quarantine = quarantineOf(call);
  const run = new IngestRun(writer, {
    quarantine,
    onError: (error, byDatabase) => {
      if (!byDatabase) rejections++;
      const list = byDatabase ? refused : rejected;
      if (list.length < max) list.push(error);
    },
  });
  meter.messages = run.totals.entities;
  const format = call.format as "text" | "ndjson";
  const options = { forced: call.forced, scope: writeScope(call.principal) };
  try {
    await feedLines(heldBytes(held), format, settings, run, options);
    await run.finish();
  } catch (error) {
    // As a batch parsed whole: on a failure, its rejected lines are not stored (a retry sends them again).
    const committed = await run.abort(false);
    if (!(error instanceof IngestError && error.code === "database_unavailable" && settings.ASYNC_FALLBACK)) throw withCommitted(error, committed);
    // The queue takes every row, as for a batch parsed whole: parsed again from the held bytes.
    const all: ParsedBody = { rows: [], errors: [], messages: 0, chars: 0 };
    await feedLines(heldBytes(held), format, settings, { sink: all, step: async () => {} }, options);
    quarantine.add(all.errors.slice(rejections));
    return accepted(call, all.rows, all.errors.slice(0, max), all.errors.length, true, quarantine);
  }
  const errors = [...rejected, ...refused].slice(0, max);
  const body = batchAnswer(run.totals, errors, undefined, call.now() - started, quarantine.summary());
  return { kind: "answered", outcome: body.outcome, body: body.body };
}

/** A failure that says what the whole batch committed, not only its last flush. */
function withCommitted(error: unknown, totals: Totals): unknown {
  if (!(error instanceof IngestError) || error.details.committed === undefined) return error;
  const committed = { inserted: totals.inserted, duplicates: totals.duplicates };
  const whole = new IngestError(error.code, error.message, { ...error.details, committed }, error.cause);
  whole.retryAfterSeconds = error.retryAfterSeconds;
  return whole;
}

/** A batch's body parsed whole, its rejections counted and handed to the quarantine. */
async function parseBatch(call: IngestCall, request: Request, limit: BodyLimit) {
  const { settings, meter, principal } = call;
  const parsed: ParsedBody = { rows: [], errors: [], messages: 0, chars: 0 };
  await feed(
    request,
    settings,
    { sink: parsed, step: async () => {} },
    { format: call.format, forced: call.forced, scope: writeScope(principal), maxMessages: settings.MAX_BATCH_ITEMS, limit },
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
