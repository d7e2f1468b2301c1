/** POST /ingest/message, /ingest/batch and /ingest/stream, GET /ingest/receipts/{id}, and the parked parts (admin): HTTP in, the ingest service, HTTP out. */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "../app-env.ts";
import { mayRead } from "../auth/api-keys.ts";
import { consumerDeps, ingestCall } from "../compose.ts";
import { errorAnswer, IngestError } from "../errors.ts";
import { BATCH_STATUS, ingestBatch } from "../ingest/batch.ts";
import { compressionOf } from "../ingest/body.ts";
import type { Accepted } from "../ingest/call.ts";
import { ingestMessage } from "../ingest/message.ts";
import { ingestStream } from "../ingest/stream.ts";
import { holdStreamSlot } from "../limits/stream-slots.ts";
import { parkedParts, receipt, redriveParked } from "../queue/async-ingest.ts";
import type { Receipt } from "../queue/receipt-object.ts";
import { SseEvents } from "./sse-events.ts";

function answerAccepted(c: Context<AppEnv>, outcome: Accepted) {
  if (outcome.fallback) c.header("Ingest-Fallback", "queued");
  c.header("Location", outcome.receipt);
  return c.json(outcome.body, 202);
}

export async function postMessage(c: Context<AppEnv>, query: { entity?: string }) {
  const outcome = await ingestMessage(ingestCall(c, query.entity));
  return outcome.kind === "accepted" ? answerAccepted(c, outcome) : c.json(outcome.body);
}

export async function postBatch(c: Context<AppEnv>, query: { entity?: string; atomic?: string; mode?: string }, idempotencyKey: string | undefined) {
  const respondAsync = query.mode === "async" || /\brespond-async\b/i.test(c.req.header("prefer") ?? "");
  const outcome = await ingestBatch(ingestCall(c, query.entity), { atomic: query.atomic === "true", async: respondAsync, idempotencyKey });
  if (outcome.kind === "accepted") return answerAccepted(c, outcome);
  if (outcome.kind === "replayed") {
    c.header("Idempotent-Replayed", "true");
    return c.json(outcome.body, outcome.status as ContentfulStatusCode);
  }
  return c.json(outcome.body, BATCH_STATUS[outcome.outcome]);
}

/**
 * Answered with Server-Sent Events while the upload goes on: `progress` per committed flush (or
 * per line with ?progress=line), `rejected` per bad line, then `summary` (or `failure`).
 */
export async function postStream(c: Context<AppEnv>, query: { entity?: string; progress?: "chunk" | "line" }) {
  // Checked before answering, so a wrong request still gets its plain 4xx.
  // (ingestCall reads the Content-Type: a wrong one is refused before the encoding is looked at, as before.)
  const call = ingestCall(c, query.entity);
  compressionOf(c.req.raw);
  const perLine = query.progress === "line";
  // Anonymous (dev) streams are counted per client address, like their rate limit.
  const owner = call.principal.keyId ? `key ${call.principal.keyId}` : `address ${c.req.header("cf-connecting-ip") ?? "unknown"}`;
  const release = await holdStreamSlot(c.env.STREAM_SLOTS, owner, call.settings.MAX_STREAMS_PER_KEY).catch(async (refused: unknown) => {
    // workerd sends no answer while a request body it was not given back is still arriving: the
    // body is cancelled, so the 429 reaches a client that is still uploading (tested under npm run dev).
    await c.req.raw.body?.cancel().catch(() => {});
    throw refused;
  });
  let ended = () => {};
  call.meter.done = new Promise<void>((resolve) => (ended = resolve));

  return streamSSE(c, async (sse) => {
    const events = new SseEvents(sse, { coalesceProgress: !perLine });
    try {
      const end = await ingestStream(
        call,
        {
          progress: (totals, errors) => events.progress({ ...totals, errors }),
          rejected: (error) => events.rejected(error),
          line: perLine ? (lineNumber, totals) => events.progress({ line_number: lineNumber, ...totals }) : undefined,
        },
        () => sse.aborted,
      );
      if (end.kind === "summary") events.end("summary", end.body);
      else {
        // The same body onError would have answered, with the status it would have had: the 200 has gone.
        const answer = errorAnswer(end.error, call.requestId);
        if (answer.body.code === "internal_error") console.error(JSON.stringify({ level: "error", route: "/ingest/stream", error: String(end.error) }));
        events.end("failure", { ...answer.body, http_status: answer.httpStatus, ...end.body });
      }
    } finally {
      await release();
      await events.drain();
      ended();
    }
  });
}

export async function getReceipt(c: Context<AppEnv>, id: string) {
  if (!/^[0-9a-f-]{36}$/.test(id)) throw new IngestError("not_found", `no receipt ${JSON.stringify(id.slice(0, 64))}`);
  // The RPC type of LineError's symbol-keyed quarantine source is never; the stored receipt is a Receipt.
  const found = (await receipt(c.env.RECEIPTS, id).get()) as Receipt | undefined;
  // Another key's receipt is "not found", not "forbidden": ids cannot be probed.
  if (!found || !mayRead(c.get("principal"), found.key_id)) throw new IngestError("not_found", `no receipt ${id}`);
  return c.json(found);
}

export async function listParked(c: Context<AppEnv>, query: { limit?: number }) {
  return c.json(await parkedParts(c.env).list(query.limit ?? 100));
}

export async function redrive(c: Context<AppEnv>) {
  return c.json(await redriveParked(c.env, consumerDeps(c.env)));
}
