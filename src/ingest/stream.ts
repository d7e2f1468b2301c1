/**
 * The stream flow: written in flushes while the body is read, so memory does not grow with it;
 * progress goes to a listener (the route's Server-Sent Events).
 */
import { IngestError, logCause } from "../errors.ts";
import { outcomeOf } from "../writer/counts.ts";
import type { LineError } from "../writer/rows.ts";
import { type IngestCall, quarantineOf } from "./call.ts";
import { feed } from "./feed.ts";
import { IngestRun, type Totals } from "./ingest-run.ts";
import { writeScope } from "./scope.ts";

export type StreamEnd = { kind: "summary"; body: Record<string, unknown> } | { kind: "failure"; error: unknown; body: Record<string, unknown> };

export interface StreamListener {
  /** After each committed flush: the totals so far and the lines rejected since the last call. */
  progress(totals: Totals, errors: LineError[]): void;
  rejected(error: LineError): void;
  /** ?progress=line: after each line. */
  line?(lineNumber: number, totals: Totals): void;
}

/**
 * A stream: written in flushes while it is read, so memory does not grow with the body. Ends with
 * a summary, or a failure that says what was committed (never thrown: the answer has started).
 */
export async function ingestStream(call: IngestCall, listener: StreamListener, isGone: () => boolean): Promise<StreamEnd> {
  const started = call.now();
  const { settings, meter } = call;
  // A stream holds nothing whole: many rejected lines make a flush of their own.
  const quarantine = quarantineOf(call, true);
  const writer = call.openWriter(meter);
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
    await feed(call.request, settings, run, { format: call.format, forced: call.forced, onLine, scope: writeScope(call.principal) }, meter);
    const totals = await run.finish();
    const { processed: total, inserted, duplicates, failed, entities } = totals;
    return {
      kind: "summary",
      body: { status: outcomeOf(totals), total, inserted, duplicates, failed, entities, duration_ms: call.now() - started, ...quarantine.summary() },
    };
  } catch (thrown) {
    logCause(call.requestId, "/ingest/stream", thrown);
    const error = await call.explain(thrown);
    const { processed, inserted, duplicates, failed } = await run.abort();
    const committed = { processed, inserted, duplicates, failed };
    if (isGone() || (error instanceof IngestError && error.code === "client_closed")) {
      // The client is gone: what was committed stays committed; say how far we got.
      console.log(JSON.stringify({ event: "stream_aborted", route: "/ingest/stream", committed, reason: String(error) }));
    }
    return { kind: "failure", error, body: { committed, duration_ms: call.now() - started, ...quarantine.summary() } };
  } finally {
    call.waitUntil(writer.close());
  }
}
