/**
 * One ingest request as the flows (message.ts, batch.ts, stream.ts) see it: the request's own facts
 * and the dependencies src/compose.ts built for it; and what every flow shares: the request's
 * writer, its quarantine, and the 202 when the rows go to the queue instead.
 */
import type { Principal } from "../auth/api-keys.ts";
import type { EntityDef } from "../entity/entity.ts";
import { REGISTRY_VERSION } from "../registry.ts";
import type { RequestMeter } from "../stats/stats-delta.ts";
import type { BisectingWriter } from "../writer/bisect.ts";
import type { RejectionOrigin } from "../writer/rejections.ts";
import type { LineError, RowToWrite } from "../writer/rows.ts";
import type { BodyFormat } from "./parsed-body.ts";
import type { IngestDeps } from "./ports.ts";
import { Quarantine, rejectionsLink } from "./quarantine.ts";

/** One ingest request, as the service needs it. */
export interface IngestCall extends IngestDeps {
  request: Request;
  /** The body's format, read once from its Content-Type. */
  format: BodyFormat;
  principal: Principal;
  requestId: string;
  meter: RequestMeter;
  /** ?entity: every JSON record is this entity. */
  forced?: EntityDef;
}

/** 202: the rows are on the queue, and the receipt follows them. */
export interface Accepted {
  kind: "accepted";
  receipt: string;
  fallback: boolean;
  body: Record<string, unknown>;
}

/** The request's quarantine: its rejected lines are stored with the request id and key id. */
export function quarantineOf(call: IngestCall, flushEarly = false): Quarantine {
  const { settings } = call;
  const format = call.format === "text" ? "text" : "json";
  const limits = { rawBytes: settings.QUARANTINE_RAW_BYTES, perRequest: settings.QUARANTINE_MAX_PER_REQUEST };
  const origin: RejectionOrigin = {
    requestId: call.requestId,
    keyId: call.principal.keyId,
    forcedEntity: call.forced?.name ?? null,
    receivedAt: new Date(call.now()).toISOString(),
    registryVersion: REGISTRY_VERSION,
  };
  return new Quarantine(call.quarantine, origin, format, limits, call.meter, flushEarly);
}

/** Runs `work` with the request's writer, closed whatever happens; a schema mismatch comes out explained. */
export async function withWriter<T>(call: IngestCall, work: (writer: BisectingWriter) => Promise<T>): Promise<T> {
  const writer = call.openWriter(call.meter);
  try {
    return await work(writer);
  } catch (error) {
    throw await call.explain(error);
  } finally {
    // Closing a WebSocket costs a round trip the client need not wait for.
    call.waitUntil(writer.close());
  }
}

/** Puts rows on the queue (their rejections not stored yet go with them: the database may be down). */
export async function accepted(
  call: IngestCall,
  rows: RowToWrite[],
  errors: LineError[],
  failed: number,
  fallback: boolean,
  quarantine: Quarantine,
): Promise<Accepted> {
  const rejections = quarantine.take();
  const { ingestId } = await call.enqueue(call.principal.keyId, rows, errors, failed, { origin: quarantine.origin, rejections });
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
