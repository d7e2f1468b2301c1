/**
 * Request body in, bytes out: Content-Encoding (gzip, deflate) through DecompressionStream,
 * a cap on decompressed bytes, corrupt streams as 400s, and strict UTF-8 pinned to lines.
 */
import { IngestError } from "../errors.ts";
import type { BodyLimit } from "../limits/caps.ts";

const ENCODINGS: Record<string, "gzip" | "deflate" | null> = { gzip: "gzip", "x-gzip": "gzip", deflate: "deflate", identity: null };

/** The request's Content-Encoding as a DecompressionStream format (null: none); 415 for others. */
export function compressionOf(request: Request): "gzip" | "deflate" | null {
  const encoding = (request.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  const format = ENCODINGS[encoding];
  if (format === undefined) throw new IngestError("unsupported_media_type", `Content-Encoding ${encoding} is not accepted: use gzip, deflate or none`);
  return format;
}

/** Past a 413, at most this much more is read and discarded: the most a Worker accepts in one request. */
const DRAIN_MAX_BYTES = 100 * 1024 * 1024;

/** `read`, unless `ms` pass first: then a 408, so a silent client cannot hold the request open. */
async function withinIdle<T>(read: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new IngestError("request_timeout", `the client sent nothing for ${ms / 1000} s (BODY_IDLE_TIMEOUT_MS); the request was ended`, {
            idle_timeout_ms: ms,
          }),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([read, idle]);
  } finally {
    clearTimeout(timer);
  }
}

/** Bytes one read of the wire takes at most: what has arrived since the last read, in one piece. */
const WIRE_READ_BYTES = 64 * 1024;

/**
 * The request body's reader. A byte stream is read into a buffer of our own (BYOB), which takes
 * whatever has arrived since the last read at once: wrangler dev hands a body on in 4 KiB pieces,
 * and each read costs a promise, a decode and a parse. A read still ends as soon as any byte is
 * there, so the idle timeout keeps its meaning.
 */
function wireReader(body: ReadableStream<Uint8Array> | null): {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  cancel(reason?: unknown): Promise<void>;
} {
  const stream = body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
  let byob: ReadableStreamBYOBReader;
  try {
    byob = stream.getReader({ mode: "byob" });
  } catch {
    return stream.getReader(); // not a byte stream
  }
  let block = new Uint8Array(WIRE_READ_BYTES);
  return {
    async read() {
      const result = await byob.read(block);
      if (result.done || !result.value) return { done: true, value: undefined };
      // The block's memory comes back with the result: reused for the next read, the bytes copied out.
      block = new Uint8Array(result.value.buffer);
      return { done: false, value: result.value.slice() };
    },
    cancel: (reason) => byob.cancel(reason),
  };
}

/**
 * The body as a byte stream, decompressed and capped at `limit` bytes after decompression.
 * `received.bytes` counts what came over the wire.
 *
 * Nothing is piped (no pipeThrough): workerd pipes to or from a JavaScript stream through a
 * chain of promises, one link per chunk, freed only when the pipe ends, so a piped body holds
 * memory in proportion to its size (about 2 MB for 100 MB). Chunks are read, counted and fed
 * to the decompressor here instead.
 */
export function bodyStream(request: Request, limit: BodyLimit, received: { bytes: number } = { bytes: 0 }): ReadableStream<Uint8Array> {
  const format = compressionOf(request);
  const declared = declaredLength(request);
  const declaredTooLarge = !format && (declared ?? 0) > limit.bytes;
  const wire = wireReader(request.body);
  let wireBytes = 0;
  const readWire = async () => {
    const chunk = await withinIdle(wire.read(), limit.idleMs);
    if (!chunk.done) {
      received.bytes += chunk.value.byteLength;
      wireBytes += chunk.value.byteLength;
    } else if (declared !== undefined && wireBytes < declared) {
      // A body that ends short of its Content-Length was cut off (a reset the runtime passed on as an end).
      throw new IngestError("client_closed", `the body ended after ${wireBytes} of the ${declared} bytes its Content-Length announced: the connection was cut`);
    }
    return chunk;
  };
  let read = readWire;
  let inflated: ReadableStreamDefaultReader<Uint8Array> | undefined;
  if (format) {
    const inflate = new DecompressionStream(format);
    const writer = inflate.writable.getWriter();
    inflated = inflate.readable.getReader();
    // Feeds the decompressor as fast as it takes input; a failure shows at the next read of its output.
    (async () => {
      for (let chunk = await readWire(); !chunk.done; chunk = await readWire()) await writer.write(chunk.value);
      await writer.close();
    })().catch((error) => writer.abort(error).catch(() => {}));
    read = () => inflated!.read();
  }
  const stop = (reason?: unknown) =>
    Promise.all([inflated?.cancel(reason), wire.cancel(reason)]).then(
      () => {},
      () => {},
    );
  /**
   * Reads and discards what the client is still sending (up to DRAIN_MAX_BYTES, while it keeps sending), so the answer
   * reaches it: a connection closed with unread request bytes is reset, and a reset can destroy an
   * answer the client has not read yet (a 413, or a stream's failure event).
   */
  const drain = async () => {
    await inflated?.cancel().catch(() => {});
    let drained = 0;
    try {
      for (
        let chunk = await withinIdle(wire.read(), limit.idleMs);
        !chunk.done && drained <= DRAIN_MAX_BYTES;
        chunk = await withinIdle(wire.read(), limit.idleMs)
      )
        drained += chunk.value.byteLength;
    } catch {
      // a silent or vanished client: nothing more to wait for
    }
    await wire.cancel().catch(() => {});
  };
  let size = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (declaredTooLarge) {
        await drain();
        throw tooLarge(limit);
      }
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await read();
      } catch (error) {
        if (error instanceof IngestError) await stop(error);
        throw readFailure(error, format);
      }
      if (chunk.done) return controller.close();
      size += chunk.value.byteLength;
      if (size > limit.bytes) {
        await drain();
        throw tooLarge(limit, format !== null);
      }
      controller.enqueue(chunk.value);
    },
    cancel: stop,
  });
}

/** The request's Content-Length, when it sent a valid one. */
function declaredLength(request: Request): number | undefined {
  const header = request.headers.get("content-length");
  return header !== null && /^\d+$/.test(header.trim()) ? Number(header) : undefined;
}

/** A body that could not be read: the client went away, or (compressed) its stream is corrupt. */
function readFailure(error: unknown, format: "gzip" | "deflate" | null): unknown {
  if (error instanceof IngestError) return error;
  const message = (error as Error).message;
  if (/connection lost|disconnected|aborted|reset/i.test(message)) return new IngestError("client_closed", `the client closed the connection: ${message}`);
  return format ? new IngestError("bad_request", `the ${format} body is corrupt or truncated: ${message}`) : error;
}

function tooLarge(limit: BodyLimit, decompressed = false): IngestError {
  const what = decompressed ? "decompressed request body" : "request body";
  return new IngestError(
    "body_too_large",
    `${what} is larger than the limit of ${limit.bytes} bytes (${limit.setting}); split it into several requests or use /ingest/stream`,
    { limit_bytes: limit.bytes },
  );
}

/** The body as sent (still compressed, if it is), capped at `limit` bytes: what an Idempotency-Key fingerprints. */
export function rawBodyStream(request: Request, limit: BodyLimit): ReadableStream<Uint8Array> {
  // duplex: Node (the service's tests) requires it for a streamed body; workerd ignores it.
  const init = { method: "POST", body: request.body, duplex: "half" } as RequestInit;
  return bodyStream(new Request(request.url, init), limit);
}

/**
 * A whole body, capped at `limit` bytes. An uncompressed body whose Content-Length fits is read
 * in one call, without bodyStream's pipeline: a single message's usual case, where the streams'
 * setup cost more CPU than the rest of the parsing.
 */
export async function readBody(request: Request, limit: BodyLimit, received: { bytes: number } = { bytes: 0 }): Promise<Uint8Array> {
  const length = request.headers.get("content-length");
  if (length === null || compressionOf(request) !== null || Number(length) > limit.bytes) return readAll(bodyStream(request, limit, received));
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await withinIdle(request.arrayBuffer(), limit.idleMs));
  } catch (error) {
    throw readFailure(error, null);
  }
  received.bytes += bytes.byteLength;
  return bytes;
}

/** Reads a whole (capped) body stream into memory: for JSON documents and Idempotency-Key fingerprints. */
export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    chunks.push(chunk);
    size += chunk.byteLength;
  }
  if (chunks.length === 1) return chunks[0];
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

export interface DecodedBody {
  text: string;
  /** 1-based numbers (counted from the first line of these bytes) of lines that are not valid UTF-8, with their bytes. */
  invalidLines: Map<number, Uint8Array>;
}

// A byte order mark is dropped only at the very start of a body, not at the start of later chunks.
const strictAtStart = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenient = new TextDecoder("utf-8");

/** Decodes strictly; only when that fails are lines decoded one by one, so one bad line loses nothing else. */
export function decodeLines(bytes: Uint8Array, atStart = true): DecodedBody {
  try {
    return { text: (atStart ? strictAtStart : strict).decode(bytes), invalidLines: new Map() };
  } catch {
    const invalidLines = new Map<number, Uint8Array>();
    let start = 0;
    let line = 1;
    while (start <= bytes.length) {
      let end = bytes.indexOf(0x0a, start);
      if (end === -1) end = bytes.length;
      try {
        strict.decode(bytes.subarray(start, end));
      } catch {
        // Kept as received for the quarantine; a copy, so the body's buffer is not held.
        invalidLines.set(line, bytes.slice(start, end));
      }
      start = end + 1;
      line++;
    }
    return { text: lenient.decode(bytes), invalidLines };
  }
}
