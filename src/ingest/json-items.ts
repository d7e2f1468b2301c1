/**
 * Counts the elements of a JSON document's top-level array while its bytes arrive, without parsing
 * them: a body of 8 million zeros is refused at its 10,001st element, after a few kilobytes, not
 * after JSON.parse built 8 million values. A document that is not an array counts as one message.
 */
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
/** A UTF-8 byte order mark's bytes, skipped before the document starts. */
const BOM = new Set([0xef, 0xbb, 0xbf]);

const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

export class JsonItemCounter {
  /** Elements seen so far (1 for a document that is not an array). */
  items = 0;
  private started = false;
  private array = false;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** At the top array's level, after `[` or `,`: the next value is an element. */
  private expecting = false;

  /** Counts the elements that start in `bytes`; returns the count so far. */
  feed(bytes: Uint8Array): number {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === QUOTE) this.inString = false;
        continue;
      }
      if (isSpace(b)) continue;
      if (!this.started) {
        if (BOM.has(b)) continue;
        this.started = true;
        this.array = b === OPEN_ARRAY;
        if (!this.array) this.items = 1;
      }
      if (this.expecting && b !== CLOSE_ARRAY) {
        this.items++;
        this.expecting = false;
      }
      if (b === QUOTE) this.inString = true;
      else if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
        this.depth++;
        if (this.array && this.depth === 1) this.expecting = true;
      } else if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) this.depth--;
      else if (b === COMMA && this.array && this.depth === 1) this.expecting = true;
    }
    return this.items;
  }
}
