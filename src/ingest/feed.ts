/** A request body through decoding and the parsers into an IngestRun, one network chunk at a time. */
import type { Settings } from "../env.ts";
import { IngestError } from "../errors.ts";
import { type BodyLimit, bodyStream, decodeLines, readAll } from "./body.ts";
import { bodyFormat } from "./content-type.ts";
import { lineBatches } from "./line-batches.ts";
import { type BodyFormat, type LineOptions, oversizeLine, type ParsedBody, parseBody, parseLines } from "./parse-messages.ts";

/** Where parsed messages go: `step` is called after each piece, and waits when the writes fall behind. */
export interface MessageSink {
  readonly sink: ParsedBody;
  step(): Promise<void>;
}

/**
 * Lines and NDJSON are parsed while the body arrives, so memory does not grow with it;
 * a JSON document (one record or an array) is read whole, up to MAX_BODY_BYTES.
 */
export interface FeedOptions extends LineOptions {
  /** More messages than this: 413 as soon as it is seen. */
  maxMessages?: number;
  /** The body's cap, when tighter than MAX_BODY_BYTES. */
  limit?: BodyLimit;
}

/**
 * A JSON document is read whole (twice its size in memory while decoding), and a batch is held
 * until it is complete: both are capped by MAX_BATCH_BYTES. Lines streamed need only MAX_BODY_BYTES.
 */
export function bodyLimit(settings: Settings, format: BodyFormat, held: boolean): BodyLimit {
  const idleMs = settings.BODY_IDLE_TIMEOUT_MS;
  return held || format === "json"
    ? {
        bytes: Math.min(settings.MAX_BODY_BYTES, settings.MAX_BATCH_BYTES),
        setting: settings.MAX_BATCH_BYTES < settings.MAX_BODY_BYTES ? "MAX_BATCH_BYTES" : "MAX_BODY_BYTES",
        idleMs,
      }
    : { bytes: settings.MAX_BODY_BYTES, setting: "MAX_BODY_BYTES", idleMs };
}

function checkCount(run: MessageSink, max: number | undefined): void {
  if (max !== undefined && run.sink.messages > max) {
    throw new IngestError(
      "body_too_large",
      `the batch holds more than ${max} messages (MAX_BATCH_ITEMS); nothing was written: split it, or use /ingest/stream`,
      { limit_items: max },
    );
  }
}

export async function feed(request: Request, settings: Settings, run: MessageSink, options: FeedOptions = {}, received?: { bytes: number }): Promise<void> {
  const format = bodyFormat(request.headers.get("content-type"));
  const body = bodyStream(request, options.limit ?? bodyLimit(settings, format, false), received);
  if (format === "json") {
    const { text, invalidLines } = decodeLines(await readAll(body));
    parseBody("json", text, invalidLines, { ...options, maxLineChars: settings.MAX_LINE_BYTES }, run.sink);
    checkCount(run, options.maxMessages);
    await run.step();
    return;
  }
  for await (const batch of lineBatches(body, settings.MAX_LINE_BYTES, settings.QUARANTINE_RAW_BYTES)) {
    for (const { line, head } of batch.oversizeLines) {
      run.sink.messages++;
      run.sink.errors.push(oversizeLine(line, settings.MAX_LINE_BYTES, "", head));
    }
    parseLines(format, batch.text, batch.firstLine, batch.invalidLines, run.sink, { ...options, maxLineChars: settings.MAX_LINE_BYTES });
    checkCount(run, options.maxMessages);
    await run.step();
  }
}
