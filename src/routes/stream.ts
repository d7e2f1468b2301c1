/**
 * POST /ingest/stream: a chunked upload of any size, processed while it is read, answered with
 * Server-Sent Events while the upload goes on: `progress` per committed flush (or per line with
 * ?progress=line), `rejected` per bad line, then `summary` (or `failure`).
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { AppEnv } from "../app.ts";
import { database, neonRunner } from "../db/neon.ts";
import { settingsOf } from "../env.ts";
import { IngestError, logCause, SchemaMismatch } from "../errors.ts";
import { explainMismatch } from "../db/schema-level.ts";
import { compressionOf } from "../ingest/body.ts";
import { bodyFormat } from "../ingest/content-type.ts";
import { feed } from "../ingest/feed.ts";
import { IngestRun } from "../ingest/ingest-run.ts";
import { entityGuard, ingestQuery, quarantineFor } from "./ingest.ts";
import { IngestQuery } from "./schemas.ts";
import { SseEvents } from "./sse-events.ts";
import { holdStreamSlot } from "../limits/stream-slots.ts";

export async function ingestStream(c: Context<AppEnv>) {
  const started = Date.now();
  const settings = settingsOf(c.env);
  // Checked before answering, so a wrong request still gets its plain 4xx.
  bodyFormat(c.req.header("content-type"));
  compressionOf(c.req.raw);
  const { forced, progress } = ingestQuery(c, IngestQuery);
  const perLine = progress === "line";
  const meter = c.get("meter");
  if (!c.env.STREAM_SLOTS) throw new IngestError("misconfigured", "the STREAM_SLOTS Durable Object binding is not configured (see wrangler.toml)");
  const principal = c.get("principal");
  // Anonymous (dev) streams are counted per client address, like their rate limit.
  const owner = principal.keyId ? `key ${principal.keyId}` : `address ${c.req.header("cf-connecting-ip") ?? "unknown"}`;
  const release = await holdStreamSlot(c.env.STREAM_SLOTS, owner, settings.MAX_STREAMS_PER_KEY);
  let ended = () => {};
  meter.done = new Promise<void>((resolve) => (ended = resolve));

  // A stream holds nothing whole: many rejected lines make a flush of their own.
  const quarantine = quarantineFor(c, forced, true);

  return streamSSE(c, async (sse) => {
    const events = new SseEvents(sse, { coalesceProgress: !perLine });
    const run = new IngestRun(neonRunner(database(settings), meter), {
      quarantine,
      // A snapshot: the event is serialised later, when the client reads it.
      onCommit: (totals, errors) => events.progress({ ...structuredClone(totals), errors }),
      onError: (error) => events.rejected(error),
    });
    meter.messages = run.totals.entities;
    const onLine = perLine ? (lineNumber: number) => events.progress({ line_number: lineNumber, ...structuredClone(run.totals) }) : undefined;
    try {
      await feed(c.req.raw, settings, run, { forced, onLine, guard: entityGuard(c.get("principal")) }, meter);
      const totals = await run.finish();
      const { processed: total, inserted, duplicates, failed, entities } = totals;
      events.end("summary", { status: failed === 0 ? "success" : inserted + duplicates > 0 ? "partial" : "error", total, inserted, duplicates, failed, entities, duration_ms: Date.now() - started, ...quarantine.summary() });
    } catch (thrown) {
      const error = thrown instanceof SchemaMismatch ? await explainMismatch(database(settings), thrown) : thrown;
      logCause(c.get("requestId"), "/ingest/stream", thrown);
      const { processed, inserted, duplicates, failed } = await run.abort();
      const committed = { processed, inserted, duplicates, failed };
      if (sse.aborted || (error instanceof IngestError && error.code === "client_closed")) {
        // The client is gone: what was committed stays committed; say how far we got.
        console.log(JSON.stringify({ event: "stream_aborted", route: "/ingest/stream", committed, reason: String(error) }));
      }
      const status = error instanceof IngestError ? error.status : 500;
      const message = error instanceof IngestError ? error.message : status === 500 ? "internal error" : String(error);
      if (status === 500 && !(error instanceof IngestError)) console.error(JSON.stringify({ level: "error", route: "/ingest/stream", error: String(error) }));
      const code = error instanceof IngestError ? error.code : "internal_error";
      events.end("failure", { status, code, message, committed, duration_ms: Date.now() - started, ...quarantine.summary() });
    } finally {
      await release();
      await events.drain();
      ended();
    }
  });
}
