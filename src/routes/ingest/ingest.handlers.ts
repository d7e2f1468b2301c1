/** POST /ingest/message, /ingest/batch and /ingest/stream, GET /ingest/receipts/{id}, and the parked parts (admin): HTTP in, the ingest service, HTTP out. */
import type { RouteConfigToTypedResponse, RouteHandler, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { AppEnv } from "../../app-env.ts";
import { mayRead } from "../../auth/api-keys.ts";
import { consumerDeps, ingestCall } from "../../compose.ts";
import { type ErrorBody, errorAnswer, IngestError } from "../../errors.ts";
import { BATCH_STATUS, ingestBatch } from "../../ingest/batch.ts";
import { compressionOf } from "../../ingest/body.ts";
import type { Accepted } from "../../ingest/call.ts";
import { ingestMessage } from "../../ingest/message.ts";
import { ingestStream } from "../../ingest/stream.ts";
import { holdStreamSlot } from "../../limits/stream-slots.ts";
import { parkedParts, receipt, redriveParked } from "../../queue/async-ingest.ts";
import { ReceiptFields } from "../../queue/receipt.ts";
import { documented } from "../documented.ts";
import { checkedQuery } from "../query.ts";
import { AcceptedResult, BatchResult, MessageQuery, type MessageResult, ParkedList, RedriveResult } from "../schemas.ts";
import type { batchRoute, parkedRoute, receiptRoute, redriveRoute, streamRoute } from "./ingest.routes.ts";
import { SseEvents } from "./sse-events.ts";

function answerAccepted(c: Context<AppEnv>, outcome: Accepted) {
  if (outcome.fallback) c.header("Ingest-Fallback", "queued");
  c.header("Location", outcome.receipt);
  return c.json(documented(AcceptedResult, outcome.body), 202);
}

type BatchStatus = (typeof BATCH_STATUS)[keyof typeof BATCH_STATUS];

/** The statuses a stored /ingest/batch answer can have: the ones the route declares for a batch's outcome. */
const isBatchStatus = (status: number): status is BatchStatus => Object.values<number>(BATCH_STATUS).includes(status);

/** A batch's answer under the status its outcome decided: one literal status per call, so each is checked against the route. */
function batchAnswer(c: Context<AppEnv>, status: BatchStatus, body: Record<string, unknown> | object) {
  const checked = documented(BatchResult, body);
  return status === 200 ? c.json(checked, 200) : status === 207 ? c.json(checked, 207) : c.json(checked, 400);
}

export async function postMessage(c: Context<AppEnv>) {
  const outcome = await ingestMessage(ingestCall(c, checkedQuery(MessageQuery, c).entity));
  if (outcome.kind === "accepted") return answerAccepted(c, outcome);
  // Checked against the documented answer by the compiler: no schema parse on the hot path.
  const body: z.output<typeof MessageResult> = outcome.body;
  return c.json(body, 200);
}

export const postBatch: RouteHandler<typeof batchRoute, AppEnv> = async (c) => {
  const query = c.req.valid("query");
  const idempotencyKey = c.req.valid("header")["idempotency-key"];
  const respondAsync = query.mode === "async" || /\brespond-async\b/i.test(c.req.header("prefer") ?? "");
  const outcome = await ingestBatch(ingestCall(c, query.entity), { atomic: query.atomic === "true", async: respondAsync, idempotencyKey });
  if (outcome.kind === "accepted") return answerAccepted(c, outcome);
  if (outcome.kind === "replayed") {
    if (!isBatchStatus(outcome.status)) throw new Error(`a stored answer with the undeclared status ${outcome.status}`);
    c.header("Idempotent-Replayed", "true");
    return batchAnswer(c, outcome.status, outcome.body);
  }
  return batchAnswer(c, BATCH_STATUS[outcome.outcome], outcome.body);
};

/**
 * Answered with Server-Sent Events while the upload goes on: `progress` per committed flush (or
 * per line with ?progress=line), `rejected` per bad line, then `summary` (or `failure`).
 */
export const postStream: RouteHandler<typeof streamRoute, AppEnv> = async (c) => {
  const query = c.req.valid("query");
  // Checked before answering, so a wrong request still gets its plain 4xx.
  // (ingestCall reads the Content-Type: a wrong one is refused before the encoding is looked at.)
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

  const events = streamSSE(c, async (sse) => {
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
        const failure: ErrorBody = { ...answer.body, http_status: answer.httpStatus, ...end.body };
        events.end("failure", failure);
      }
    } finally {
      await release();
      await events.drain();
      ended();
    }
  });
  // Cast 1 of 2: an event stream's body is written as it goes; its events are checked by contract.test.ts, not by the compiler.
  return events as unknown as RouteConfigToTypedResponse<typeof streamRoute>;
};

export const getReceipt: RouteHandler<typeof receiptRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  if (!/^[0-9a-f-]{36}$/.test(id)) throw new IngestError("not_found", `no receipt ${JSON.stringify(id.slice(0, 64))}`);
  // The RPC stub types the stored receipt loosely: it is checked against its schema (queue/receipt.ts).
  const stored: unknown = await receipt(c.env.RECEIPTS, id).get();
  const found = stored === undefined ? undefined : documented(ReceiptFields, stored);
  // Another key's receipt is "not found", not "forbidden": ids cannot be probed.
  if (!found || !mayRead(c.get("principal"), found.key_id)) throw new IngestError("not_found", `no receipt ${id}`);
  return c.json(found, 200);
};

export const listParked: RouteHandler<typeof parkedRoute, AppEnv> = async (c) => {
  return c.json(documented(ParkedList, await parkedParts(c.env).list(c.req.valid("query").limit ?? 100)), 200);
};

export const redrive: RouteHandler<typeof redriveRoute, AppEnv> = async (c) => {
  return c.json(documented(RedriveResult, await redriveParked(c.env, consumerDeps(c.get("settings")))), 200);
};
