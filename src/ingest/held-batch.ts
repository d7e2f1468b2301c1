/**
 * A batch of lines or NDJSON held as the bytes it came in, not as rows. Read whole (≤ MAX_BATCH_BYTES)
 * with its messages counted as they arrive (past MAX_BATCH_ITEMS: 413, before anything is written),
 * it is then parsed and written in flushes, as a stream is. Bytes sit outside the V8 heap and take a
 * fraction of the room of the rows parsed from them (an object and a JSON string each): four
 * concurrent 16 MiB batches held as rows ran a 128 MB isolate out of heap (docs/benchmarks.md).
 */
import type { Settings } from "../env.ts";
import type { BodyLimit } from "../limits/caps.ts";
import { bodyStream } from "./body.ts";
import { lineBatches } from "./line-batches.ts";
import { forEachLine } from "./parse-messages.ts";
import { tooManyMessages } from "./parsed-body.ts";

export interface HeldBatch {
  /** The body's bytes after decompression, as read. */
  chunks: Uint8Array[];
  /** Messages, counted as the parsers count them: lines that are not blank or comments, and lines over MAX_LINE_BYTES. */
  messages: number;
}

/** Reads a lines or NDJSON body whole as bytes, counting its messages; `received` counts the bytes over the wire. */
export async function holdBatch(request: Request, settings: Settings, limit: BodyLimit, received: { bytes: number }): Promise<HeldBatch> {
  const max = settings.MAX_BATCH_ITEMS;
  const chunks: Uint8Array[] = [];
  let messages = 0;
  const count = () => {
    if (++messages > max) throw tooManyMessages(max);
  };
  async function* kept(): AsyncGenerator<Uint8Array> {
    for await (const chunk of bodyStream(request, limit, received)) {
      chunks.push(chunk);
      yield chunk;
    }
  }
  for await (const batch of lineBatches(kept(), settings.MAX_LINE_BYTES)) {
    batch.oversizeLines.forEach(count);
    forEachLine(batch.text, count);
  }
  return { chunks, messages };
}

/** The held bytes again, one chunk at a time, for the parsers. */
export async function* heldBytes(held: HeldBatch): AsyncGenerator<Uint8Array> {
  for (const chunk of held.chunks) yield chunk;
}
