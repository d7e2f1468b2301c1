/** A request body through decoding and the parsers into an IngestRun, one network chunk at a time. */
import type { Settings } from "../env.ts";
import { type BodyLimit, bodyLimit } from "../limits/caps.ts";
import { bodyStream, decodeLines } from "./body.ts";
import { bodyFormat } from "./content-type.ts";
import { JsonItemCounter } from "./json-items.ts";
import { lineBatches } from "./line-batches.ts";
import { jsonRecords, parseRecords } from "./parse-json.ts";
import { parseLines } from "./parse-messages.ts";
import { type BodyFormat, type LineOptions, oversizeLine, type ParsedBody, tooManyMessages } from "./parsed-body.ts";

/** JSON records parsed between two yields: a few milliseconds of CPU. */
const RECORDS_PER_SLICE = 500;

/** Lets the isolate run what else is waiting (other requests' answers) before the next slice of work. */
const yieldToOthers = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

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
  /** The body's cap, when tighter than MAX_BODY_BYTES. */
  limit?: BodyLimit;
  /** The body's format when the caller read it already (its Content-Type is read once per request). */
  format?: BodyFormat;
}

/**
 * A JSON document read whole, its top-level array's elements counted as the bytes arrive: past
 * `max` it is refused at once, before the rest is read or anything is parsed.
 */
async function readDocument(body: ReadableStream<Uint8Array>, max: number, instead?: string): Promise<Uint8Array> {
  const counter = new JsonItemCounter();
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) {
    if (counter.feed(chunk) > max) throw tooManyMessages(max, instead);
    chunks.push(chunk);
  }
  return new Uint8Array(await new Blob(chunks).arrayBuffer());
}

export async function feed(request: Request, settings: Settings, run: MessageSink, options: FeedOptions = {}, received?: { bytes: number }): Promise<void> {
  const format = options.format ?? bodyFormat(request.headers.get("content-type"));
  const body = bodyStream(request, options.limit ?? bodyLimit(settings, format, false), received);
  if (format === "json") {
    // A document is held whole like a batch, on every route: at most MAX_BATCH_ITEMS elements.
    const max = options.maxMessages ?? settings.MAX_BATCH_ITEMS;
    const instead = options.maxMessages === undefined ? "a JSON document is held whole: send its records as NDJSON to stream them" : undefined;
    const { text, invalidLines } = decodeLines(await readDocument(body, max, instead));
    const records = jsonRecords(text, invalidLines, run.sink);
    if (run.sink.messages > max) throw tooManyMessages(max, instead);
    // A slice at a time, yielding between slices: other requests in the isolate answer meanwhile.
    for (let start = 0; start < records.length; start += RECORDS_PER_SLICE) {
      parseRecords(records, start, start + RECORDS_PER_SLICE, run.sink, { ...options, maxLineChars: settings.MAX_LINE_BYTES });
      await yieldToOthers();
    }
    await run.step();
    return;
  }
  await feedLines(body, format, settings, run, options);
}

/** Lines or NDJSON from a byte stream (the body, or a batch's held bytes) into `run`, one chunk at a time. */
export async function feedLines(
  body: AsyncIterable<Uint8Array>,
  format: "text" | "ndjson",
  settings: Settings,
  run: MessageSink,
  options: LineOptions = {},
): Promise<void> {
  for await (const batch of lineBatches(body, settings.MAX_LINE_BYTES, settings.QUARANTINE_RAW_BYTES)) {
    for (const { line, head } of batch.oversizeLines) {
      if (++run.sink.messages > (options.maxMessages ?? Infinity)) throw tooManyMessages(options.maxMessages!);
      run.sink.errors.push(oversizeLine(line, settings.MAX_LINE_BYTES, "", head));
    }
    parseLines(format, batch.text, batch.firstLine, batch.invalidLines, run.sink, { ...options, maxLineChars: settings.MAX_LINE_BYTES });
    await run.step();
  }
}
