/**
 * The asynchronous path: parsed rows go to a Cloudflare Queue in messages under its limits, a
 * consumer in this Worker writes them with the same batch writer, and failed messages end in a
 * dead-letter queue. Each ingest has a receipt (ReceiptObject) that says how far it got and why.
 */
import { rowAsArray } from "../entity/entity.ts";
import type { Settings } from "../env.ts";
import { DATABASE_UNAVAILABLE, IngestError, logCause, TransientDatabaseError } from "../errors.ts";
import type { QuarantineStore, WriterFactory } from "../ingest/ports.ts";
import type { QuarantineMeter } from "../ingest/quarantine.ts";
import { base64, fromBase64, rejectionsLink, storeRejections, toRecord } from "../ingest/quarantine.ts";
import { MAX_ERRORS_LISTED } from "../limits/caps.ts";
import { entityByName, REGISTRY_VERSION } from "../registry.ts";
import { recordCounters } from "../stats/stats-client.ts";
import { key } from "../stats/stats-delta.ts";
import { exponential } from "../writer/backoff.ts";
import { writeRows } from "../writer/batch.ts";
import type { RejectionOrigin, RejectionRecord } from "../writer/rejections.ts";
import type { LineError, RowToWrite } from "../writer/rows.ts";
import type { ReceiptObject } from "./receipt-object.ts";

/** One queue message: a slice of an ingest's rows, or of its rejected lines (stored by the consumer). */
export interface IngestPart {
  ingestId: string;
  part: number;
  rows: { entity: string; json: string; line: number }[];
  /** The request the rows came from: the consumer stores the rejections under it. */
  origin?: RejectionOrigin;
  rejections?: RejectionRecord[];
}

/** A short retry budget in the consumer: the queue's own retries, with their delays, are the patient ones. */
export const CONSUMER_RETRY_MS = 2000;

/** What the consumer and the re-drive write with, built by src/compose.ts (with CONSUMER_RETRY_MS's short retries). */
export interface ConsumerDeps {
  settings: Settings;
  openWriter: WriterFactory;
  quarantine: QuarantineStore;
}

// Queue limits: 128 KB a message; sendBatch 100 messages or 256 KB. Leave room for the envelope.
const MESSAGE_BYTES = 120 * 1024;
const SEND_BATCH_BYTES = 240 * 1024;
const SEND_BATCH_MESSAGES = 100;

export type ReceiptNamespace = DurableObjectNamespace<ReceiptObject>;
export const receipt = (ns: ReceiptNamespace, ingestId: string) => ns.get(ns.idFromName(ingestId));

/** A rejection that would not fit a queue message keeps less of its line (and says it was cut). */
function fitted(record: RejectionRecord): { record: RejectionRecord; size: number } {
  const size = (r: RejectionRecord) => JSON.stringify(r).length + r.message.length * 2 + 16;
  if (size(record) <= MESSAGE_BYTES) return { record, size: size(record) };
  const keep = Math.max(0, MESSAGE_BYTES - (size(record) - record.raw.length) - 64) * 0.75;
  const raw = base64(fromBase64(record.raw).subarray(0, Math.floor(keep)));
  const cut = { ...record, raw, raw_truncated: true };
  return { record: cut, size: size(cut) };
}

function toParts(ingestId: string, rows: RowToWrite[], origin?: RejectionOrigin, rejections: RejectionRecord[] = []): IngestPart[] {
  const parts: IngestPart[] = [];
  let current: IngestPart | undefined;
  let bytes = 0;
  for (const item of rejections) {
    const { record, size } = fitted(item);
    if (!current || bytes + size > MESSAGE_BYTES) {
      current = { ingestId, part: parts.length, rows: [], origin, rejections: [] };
      parts.push(current);
      bytes = 256;
    }
    current.rejections!.push(record);
    bytes += size;
  }
  current = undefined;
  for (const r of rows) {
    const row = { entity: r.entity.name, json: r.json, line: r.lineNumber };
    const size = r.json.length * 3 + r.entity.name.length + 32;
    if (size > MESSAGE_BYTES)
      throw new IngestError("body_too_large", `line ${r.lineNumber} is too large for one queue message (128 KB): send it synchronously`);
    if (!current || bytes + size > MESSAGE_BYTES) {
      current = { ingestId, part: parts.length, rows: [], origin };
      parts.push(current);
      bytes = 256;
    }
    current.rows.push(row);
    bytes += size;
  }
  return parts;
}

/** Puts the rows on the queue and opens their receipt; resolves once the queue accepted every message. */
export async function enqueue(
  env: Env,
  keyId: string | null,
  rows: RowToWrite[],
  parseErrors: LineError[],
  failed: number,
  quarantine?: { origin: RejectionOrigin; rejections: RejectionRecord[] },
): Promise<{ ingestId: string; parts: number }> {
  const ingestId = crypto.randomUUID();
  const parts = toParts(ingestId, rows, quarantine?.origin, quarantine?.rejections);
  const requestId = quarantine?.origin.requestId;
  await receipt(env.RECEIPTS, ingestId).create({
    ingest_id: ingestId,
    key_id: keyId,
    created_at: new Date().toISOString(),
    parts: parts.length,
    queued_rows: rows.length,
    inserted: 0,
    duplicates: 0,
    failed,
    errors: parseErrors.slice(0, MAX_ERRORS_LISTED),
    ...(requestId ? { request_id: requestId, rejections: rejectionsLink(requestId) } : {}),
  });
  let batch: MessageSendRequest<IngestPart>[] = [];
  let bytes = 0;
  for (const part of parts) {
    const size = JSON.stringify(part).length * 3;
    if (batch.length === SEND_BATCH_MESSAGES || (batch.length > 0 && bytes + size > SEND_BATCH_BYTES)) {
      await env.INGEST_QUEUE.sendBatch(batch);
      batch = [];
      bytes = 0;
    }
    batch.push({ body: part, contentType: "json" });
    bytes += size;
  }
  if (batch.length > 0) await env.INGEST_QUEUE.sendBatch(batch);
  return { ingestId, parts: parts.length };
}

/** Queues delay a message at most 12 hours (delaySeconds). */
const MAX_DELAY_S = 12 * 60 * 60;

/** The wait before attempt `attempts + 1`: QUEUE_RETRY_DELAY_S, doubled each attempt, up to 12 hours. */
export const retryDelay = (settings: Settings, attempts: number): number => exponential(settings.QUEUE_RETRY_DELAY_S, attempts - 1, MAX_DELAY_S);

/** A part's rejections the database did not take: the part is tried again, so they are not lost. */
class RejectionsNotStored extends Error {}

/**
 * Writes one part: its rows, then its rejections (those queued with it and the rows the database
 * refused), then its receipt. Throws when any of it failed; a part tried again after its rows
 * were written finds them there (natural keys) and counts them as duplicates.
 */
async function writePart(env: Env, deps: ConsumerDeps, body: IngestPart, meter: QuarantineMeter): Promise<void> {
  const { ingestId, part, rows } = body;
  const { settings } = deps;
  // Parts queued before the quarantine existed name no request: their ingest id stands in for it.
  const origin = body.origin ?? {
    requestId: ingestId,
    keyId: null,
    forcedEntity: null,
    receivedAt: new Date().toISOString(),
    registryVersion: REGISTRY_VERSION,
  };
  const toWrite: RowToWrite[] = rows.map((r) => {
    const entity = entityByName(r.entity);
    // A part queued by another version of the Worker can name an entity this one lacks: it waits, parked, for one that has it.
    if (!entity) throw new IngestError("misconfigured", `the part names entity ${JSON.stringify(r.entity)}, which this Worker does not know`);
    return { entity, json: rowAsArray(entity, r.json), lineNumber: r.line };
  });
  const writer = deps.openWriter();
  const written = await writeRows(toWrite, writer).finally(() => writer.close());
  const rejections = [...(body.rejections ?? []), ...written.failed.map((e) => toRecord(e, "json", settings.QUARANTINE_RAW_BYTES))];
  if (rejections.length > 0 && !(await storeRejections(deps.quarantine, origin, rejections, meter)))
    throw new RejectionsNotStored(`${rejections.length} rejected lines could not be stored`);
  await receipt(env.RECEIPTS, ingestId).written(
    part,
    { inserted: written.inserted, duplicates: written.duplicates, failed: written.failed.length },
    written.failed,
  );
}

/** The one Durable Object that keeps parked parts. */
export const parkedParts = (env: Env) => env.PARKED.get(env.PARKED.idFromName("parked"));

/** Keeps a part that could not be written, with its rows and rejections, and says so on its receipt. */
async function park(env: Env, body: IngestPart, attempts: number, reason: string): Promise<void> {
  await parkedParts(env).park(body, attempts, reason);
  await receipt(env.RECEIPTS, body.ingestId).parked(body.part, attempts, reason);
  console.error(JSON.stringify({ level: "error", event: "part_parked", ingest_id: body.ingestId, part: body.part, rows: body.rows.length, attempts, reason }));
}

const databaseDown = (error: unknown) =>
  error instanceof TransientDatabaseError || error instanceof RejectionsNotStored || (error instanceof IngestError && error.code === "database_unavailable");

/** What a receipt may say about a failure: the stable message; the log gets the database's words. */
const reasonOf = (error: unknown) => (error instanceof IngestError ? error.message : DATABASE_UNAVAILABLE);

async function recordStats(env: Env, settings: Settings, meter: QuarantineMeter): Promise<void> {
  if (!settings.STATS_ENABLED) return;
  const counters: [string, number][] = [
    ...Object.entries(meter.rejections).map(([k, n]): [string, number] => [key.rejectionsStored(k), n]),
    [key.rejectionsNotStored, meter.rejectionsNotStored],
  ];
  await recordCounters(env.STATS, settings.STATS_SHARDS, counters).catch((error: unknown) =>
    console.error(JSON.stringify({ level: "error", event: "stats_record_failed", error: String(error) })),
  );
}

/**
 * The queue consumer: writes each part. A failure is retried by the queue, with a delay that
 * doubles; after QUEUE_MAX_RETRIES attempts the part is parked (kept, not dropped) for the re-drive.
 */
export async function consumeParts(batch: MessageBatch<IngestPart>, env: Env, deps: ConsumerDeps): Promise<void> {
  const { settings } = deps;
  const meter: QuarantineMeter = { rejections: {}, rejectionsNotStored: 0 };
  for (const message of batch.messages) {
    const { ingestId, part } = message.body;
    try {
      await writePart(env, deps, message.body, meter);
      message.ack();
    } catch (error) {
      logCause(ingestId, "queue", error);
      try {
        if (message.attempts >= settings.QUEUE_MAX_RETRIES) {
          await park(env, message.body, message.attempts, reasonOf(error));
          message.ack();
          continue;
        }
        await receipt(env.RECEIPTS, ingestId).attemptFailed(part, message.attempts, reasonOf(error));
      } catch (failed) {
        // Neither parked nor noted: the queue keeps the message (its max_retries is above QUEUE_MAX_RETRIES).
        logCause(ingestId, "queue", failed);
      }
      message.retry({ delaySeconds: retryDelay(settings, message.attempts) });
    }
  }
  await recordStats(env, settings, meter);
}

/**
 * The dead-letter queue's consumer: a message lands here only if even parking failed for all the
 * queue's max_retries. It is parked now; if that fails too, it is retried, never acknowledged unkept.
 */
export async function consumeDeadLetters(batch: MessageBatch<IngestPart>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    const { ingestId, part, rows } = message.body;
    try {
      await park(env, message.body, message.attempts, "dead-lettered: the queue gave up on it");
      message.ack();
    } catch (error) {
      console.error(JSON.stringify({ level: "error", event: "dead_letter_not_parked", ingest_id: ingestId, part, rows: rows.length, error: String(error) }));
      message.retry({ delaySeconds: 60 });
    }
  }
}

/** The Cron Trigger that re-drives parked parts (wrangler.toml); the other one is the hourly clean-up. */
export const REDRIVE_CRON = "* * * * *";

/** Parked parts a re-drive writes at most: the next run (a minute later) takes the rest. */
const REDRIVE_PARTS = 200;

export interface Redrive {
  redriven: number;
  remaining: number;
  /** Why the re-drive stopped early: the database still fails. */
  stopped?: string;
}

/**
 * Writes parked parts, least re-driven and oldest first (the Cron Trigger, every minute; or an
 * admin). The database failing ends the run: it is not back yet, and the parts stay parked. A part
 * that fails for a reason of its own stays parked, behind the others, and is tried again next run.
 */
export async function redriveParked(env: Env, deps: ConsumerDeps, limit = REDRIVE_PARTS): Promise<Redrive> {
  const { settings } = deps;
  const index = parkedParts(env);
  const parts = await index.take(limit);
  const meter: QuarantineMeter = { rejections: {}, rejectionsNotStored: 0 };
  let redriven = 0;
  let stopped: string | undefined;
  for (const parked of parts) {
    try {
      await writePart(env, deps, parked.body, meter);
    } catch (error) {
      logCause(parked.ingest_id, "redrive", error);
      await index.redriveFailed(parked.ingest_id, parked.part, reasonOf(error));
      // The database is not back: the rest would fail alike. Any other failure is this part's own.
      if (databaseDown(error)) {
        stopped = reasonOf(error);
        break;
      }
      continue;
    }
    await index.remove(parked.ingest_id, parked.part);
    redriven++;
  }
  await recordStats(env, settings, meter);
  const { total } = await index.list(0);
  if (parts.length > 0) console.log(JSON.stringify({ event: "parked_redrive", redriven, remaining: total, ...(stopped ? { stopped } : {}) }));
  return { redriven, remaining: total, ...(stopped ? { stopped } : {}) };
}
