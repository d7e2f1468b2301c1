/**
 * The asynchronous path: parsed rows go to a Cloudflare Queue in messages under its limits, a
 * consumer in this Worker writes them with the same batch writer, and failed messages end in a
 * dead-letter queue. Each ingest has a receipt (ReceiptObject) that says how far it got and why.
 */
import { database } from "../db/neon.ts";
import { openWriter } from "../db/writers.ts";
import type { Settings } from "../env.ts";
import { DATABASE_UNAVAILABLE, IngestError, logCause } from "../errors.ts";
import { writeRows } from "../ingest/batch-writer.ts";
import { rowAsArray } from "../ingest/entity.ts";
import type { LineError, RowToWrite } from "../ingest/parse-messages.ts";
import type { QuarantineMeter } from "../ingest/quarantine.ts";
import { base64, fromBase64, type RejectionOrigin, type RejectionRecord, rejectionsLink, storeRejections, toRecord } from "../ingest/quarantine.ts";
import { entityByName, REGISTRY_VERSION } from "../ingest/registry.ts";
import { recordCounters } from "../stats/stats-client.ts";
import { key } from "../stats/stats-delta.ts";
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

const CONSUMER_RETRY_MS = 2000;

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
    errors: parseErrors.slice(0, 1000),
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

/** The queue consumer: writes each part; a failure is recorded on the receipt and retried by the queue. */
export async function consumeParts(batch: MessageBatch<IngestPart>, env: Env, settings: Settings): Promise<void> {
  // A short retry budget in here: the queue's own retries, with their delays, are the patient ones.
  const retryMs = Math.min(settings.DB_RETRY_MS, CONSUMER_RETRY_MS);
  const db = { ...database(settings), retryMs };
  const meter: QuarantineMeter = { rejections: {}, rejectionsNotStored: 0 };
  for (const message of batch.messages) {
    const { ingestId, part, rows } = message.body;
    const receiptStub = receipt(env.RECEIPTS, ingestId);
    // Parts queued before the quarantine existed name no request: their ingest id stands in for it.
    const origin = message.body.origin ?? {
      requestId: ingestId,
      keyId: null,
      forcedEntity: null,
      receivedAt: new Date().toISOString(),
      registryVersion: REGISTRY_VERSION,
    };
    try {
      const toWrite: RowToWrite[] = rows.map((r) => {
        const entity = entityByName(r.entity)!;
        return { entity, json: rowAsArray(entity, r.json), lineNumber: r.line };
      });
      const writer = openWriter(settings, { dbSeconds: 0 }, retryMs);
      const written = await writeRows(toWrite, writer).finally(() => writer.close());
      // The rows are written: a rejection that cannot be stored now is logged and counted, and the part still counts as done.
      const rejections = [...(message.body.rejections ?? []), ...written.failed.map((e) => toRecord(e, "json", settings.QUARANTINE_RAW_BYTES))];
      if (rejections.length > 0) await storeRejections(db, origin, rejections, meter);
      await receiptStub.written(part, { inserted: written.inserted, duplicates: written.duplicates, failed: written.failed.length }, written.failed);
      message.ack();
    } catch (error) {
      // The receipt, which clients read, gets the stable message; the log gets the database's words.
      logCause(ingestId, "queue", error);
      await receiptStub.attemptFailed(part, message.attempts, error instanceof IngestError ? error.message : DATABASE_UNAVAILABLE);
      message.retry({ delaySeconds: Math.min(settings.QUEUE_RETRY_DELAY_S * message.attempts, 300) });
    }
  }
  if (settings.STATS_ENABLED) {
    const counters: [string, number][] = [
      ...Object.entries(meter.rejections).map(([k, n]): [string, number] => [key.rejectionsStored(k), n]),
      [key.rejectionsNotStored, meter.rejectionsNotStored],
    ];
    await recordCounters(env.STATS, settings.STATS_SHARDS, counters).catch((error: unknown) =>
      console.error(JSON.stringify({ level: "error", event: "stats_record_failed", error: String(error) })),
    );
  }
}

/** The dead-letter queue's consumer: marks the parts on their receipts, and keeps them visible in the log. */
export async function consumeDeadLetters(batch: MessageBatch<IngestPart>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    const { ingestId, part, rows } = message.body;
    console.error(JSON.stringify({ level: "error", event: "dead_lettered", ingest_id: ingestId, part, rows: rows.length }));
    await receipt(env.RECEIPTS, ingestId).deadLettered(part, rows.length);
    message.ack();
  }
}
