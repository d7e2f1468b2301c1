/** Body bytes in, text out: size limits and strict UTF-8 that pins invalid bytes to their lines. */
import { IngestError } from "../errors.ts";

/** Reads at most `limit` bytes of a body, failing with 413 as soon as it is exceeded. */
export async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) throw tooLarge(limit);
  if (!request.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge(limit);
    }
    chunks.push(value);
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

function tooLarge(limit: number): IngestError {
  return new IngestError("body_too_large", `request body is larger than the limit of ${limit} bytes (MAX_BODY_BYTES); split it into several requests`);
}

export interface DecodedBody {
  text: string;
  /** 1-based numbers of lines that are not valid UTF-8 (their text holds U+FFFD). */
  invalidLines: Set<number>;
}

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
const lenient = new TextDecoder("utf-8");

/** Decodes strictly; only when that fails are lines decoded one by one, so one bad line loses nothing else. */
export function decodeBody(bytes: Uint8Array): DecodedBody {
  try {
    return { text: strict.decode(bytes), invalidLines: new Set() };
  } catch {
    const invalidLines = new Set<number>();
    let start = 0;
    let line = 1;
    while (start <= bytes.length) {
      let end = bytes.indexOf(0x0a, start);
      if (end === -1) end = bytes.length;
      try {
        strict.decode(bytes.subarray(start, end));
      } catch {
        invalidLines.add(line);
      }
      start = end + 1;
      line++;
    }
    return { text: lenient.decode(bytes), invalidLines };
  }
}
