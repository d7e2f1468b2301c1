/**
 * A byte stream in, batches of whole decoded lines out, numbered across chunk boundaries.
 * Memory is one network chunk plus one partial line; a line longer than the limit is skipped
 * (reported, never buffered), so no input can make it grow. A body that ends cleanly without a
 * final newline has its last line taken whole; one that fails (cut off) has it dropped, and says so.
 */
import { IngestError } from "../errors.ts";
import { decodeLines } from "./body.ts";

export interface LineBatch {
  text: string;
  /** Number of the first line in `text`. */
  firstLine: number;
  /** Absolute numbers of lines that are not valid UTF-8, with their bytes. */
  invalidLines: Map<number, Uint8Array>;
  /** Absolute numbers of lines over the length limit (not in `text`), with their first `keepBytes` bytes. */
  oversizeLines: { line: number; head: Uint8Array }[];
}

const NEWLINE = 0x0a;

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function count(bytes: Uint8Array, value: number): number {
  let n = 0;
  for (let i = bytes.indexOf(value); i !== -1; i = bytes.indexOf(value, i + 1)) n++;
  return n;
}

export async function* lineBatches(body: AsyncIterable<Uint8Array>, maxLineBytes: number, keepBytes = 0): AsyncGenerator<LineBatch> {
  let carry: Uint8Array = new Uint8Array(0);
  let nextLine = 1;
  let skipping = false;
  const finish = (complete: Uint8Array, oversizeLines: LineBatch["oversizeLines"]): LineBatch => {
    const firstLine = nextLine;
    const decoded = decodeLines(complete, firstLine === 1);
    nextLine += count(complete, NEWLINE);
    const invalidLines = new Map([...decoded.invalidLines].map(([n, bytes]) => [n + firstLine - 1, bytes]));
    return { text: decoded.text, firstLine, invalidLines, oversizeLines };
  };

  try {
    yield* batches();
  } catch (error) {
    // The body was cut off (the client went away or stalled, or its gzip stream broke): its
    // unterminated last line is incomplete, and is not written. A 413 says what it says.
    if (error instanceof IngestError && error.code !== "body_too_large" && (carry.length > 0 || skipping))
      throw new IngestError(error.code, `${error.message}; the unterminated last line (line ${nextLine}) was cut off and not written`, {
        ...error.details,
        cut_line: nextLine,
      });
    throw error;
  }
  if (carry.length > 0) yield finish(carry, []);

  async function* batches(): AsyncGenerator<LineBatch> {
    for await (const chunk of body) {
      const oversizeLines: LineBatch["oversizeLines"] = [];
      let bytes = chunk;
      if (skipping) {
        const end = bytes.indexOf(NEWLINE);
        if (end === -1) continue;
        bytes = bytes.subarray(end + 1);
        nextLine++;
        skipping = false;
      }
      const last = bytes.lastIndexOf(NEWLINE);
      if (last === -1) {
        carry = concat(carry, bytes);
      } else {
        const complete = concat(carry, bytes.subarray(0, last + 1));
        carry = bytes.slice(last + 1);
        if (complete.length > 0) yield finish(complete, oversizeLines);
      }
      if (carry.length > maxLineBytes) {
        oversizeLines.push({ line: nextLine, head: carry.slice(0, keepBytes) });
        carry = new Uint8Array(0);
        skipping = true;
        yield { text: "", firstLine: nextLine, invalidLines: new Map(), oversizeLines };
      }
    }
  }
}
