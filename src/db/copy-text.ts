/**
 * Rows' JSON (arrays in column order, as the parsers write them) as COPY's text format, in UTF-8.
 * The INSERT path reads each value with `e->>i`; this gives COPY the same text. The JSON is encoded
 * once and rewritten in place, byte by byte: quotes and brackets go, commas become tabs, `null`
 * becomes \N. JSON's string escapes (\" \\ \/ \b \f \n \r \t) mean the same in COPY text; only
 * \uXXXX is decoded. A value whose `e->>i` text this cannot reproduce exactly (a nested array or
 * object, a number with an exponent or -0, a lone surrogate, NUL) makes the rows unencodable: the
 * caller then writes them with INSERT.
 */

/** The rows cannot be written as COPY text with certainty: write them with INSERT. */
export const UNENCODABLE = undefined;

const encoder = new TextEncoder();

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const OPEN = 91;
const CLOSE = 93;
const NEWLINE = 10;
const TAB = 9;
const RETURN = 13;
const MINUS = 45;
const DOT = 46;
const ZERO = 48;
const NINE = 57;

const isDigit = (c: number) => c >= ZERO && c <= NINE;

/** A number jsonb prints back as written: plain decimal digits, no exponent, no negative zero. */
function plainNumber(b: Uint8Array, start: number, end: number): boolean {
  let i = start;
  if (b[i] === MINUS) i++;
  if (!isDigit(b[i]) || i >= end || (b[i] === ZERO && i + 1 < end && b[i + 1] !== DOT)) return false;
  let nonZero = b[i] !== ZERO;
  let dot = false;
  for (i++; i < end; i++) {
    if (b[i] === DOT && !dot && i + 1 < end) dot = true;
    else if (isDigit(b[i])) nonZero ||= b[i] !== ZERO;
    else return false;
  }
  return nonZero || b[start] !== MINUS;
}

function matches(b: Uint8Array, start: number, end: number, word: string): boolean {
  if (end - start !== word.length) return false;
  for (let k = 0; k < word.length; k++) if (b[start + k] !== word.charCodeAt(k)) return false;
  return true;
}

function hex4(b: Uint8Array, i: number): number {
  let unit = 0;
  for (let k = i; k < i + 4; k++) {
    const c = b[k] | 0x20; // lower case
    const digit = isDigit(b[k]) ? b[k] - ZERO : c >= 97 && c <= 102 ? c - 87 : -1;
    if (digit < 0) return -1;
    unit = unit * 16 + digit;
  }
  return unit;
}

/** Writes `codePoint` as UTF-8 at `o`; returns the new output position. */
function utf8(b: Uint8Array, o: number, codePoint: number): number {
  if (codePoint < 0x80) b[o++] = codePoint;
  else if (codePoint < 0x800) {
    b[o++] = 0xc0 | (codePoint >> 6);
    b[o++] = 0x80 | (codePoint & 0x3f);
  } else if (codePoint < 0x10000) {
    b[o++] = 0xe0 | (codePoint >> 12);
    b[o++] = 0x80 | ((codePoint >> 6) & 0x3f);
    b[o++] = 0x80 | (codePoint & 0x3f);
  } else {
    b[o++] = 0xf0 | (codePoint >> 18);
    b[o++] = 0x80 | ((codePoint >> 12) & 0x3f);
    b[o++] = 0x80 | ((codePoint >> 6) & 0x3f);
    b[o++] = 0x80 | (codePoint & 0x3f);
  }
  return o;
}

/** COPY's own escapes for the characters it gives a meaning: backslash, tab, newline, carriage return. */
const COPY_ESCAPED: Record<number, number> = { [BACKSLASH]: BACKSLASH, [TAB]: 116, [NEWLINE]: 110, [RETURN]: 114 };

/**
 * The rows' JSON in UTF-8, each row ended by a newline, written one by one into a buffer with
 * `head` bytes free before and `tail` after: no joined string, no second copy. Returns the
 * buffer and where the rows end.
 */
function encodeRows(jsons: readonly string[], head: number, tail: number): { b: Uint8Array; end: number } {
  let size = head + tail;
  for (const json of jsons) size += json.length + 1; // exact for ASCII, the usual case
  let b = new Uint8Array(size);
  let o = head;
  for (const json of jsons) {
    // JSON.stringify never writes a raw newline: one row per line.
    let done = encoder.encodeInto(json, b.subarray(o, b.length - tail - 1));
    if (done.read < json.length) {
      // Wider than ASCII: at most 3 bytes a UTF-16 unit. Grown, and this row written again.
      const grown = new Uint8Array(Math.max(b.length * 2, o + 3 * json.length + 1 + tail));
      grown.set(b.subarray(0, o));
      b = grown;
      done = encoder.encodeInto(json, b.subarray(o, b.length - tail - 1));
    }
    o += done.written;
    b[o++] = NEWLINE;
  }
  return { b, end: o };
}

/** The rows as COPY text (one line each, newline-ended), in UTF-8, or UNENCODABLE. */
export function copyText(jsons: readonly string[]): Uint8Array | undefined {
  const { b, end } = encodeRows(jsons, 0, 0);
  const o = rewrite(b, 0, end);
  return o === UNENCODABLE ? UNENCODABLE : b.subarray(0, o);
}

/** 'd', a message's length, 'c': the CopyData and CopyDone messages of the protocol. */
const COPY_DATA = 100;
const COPY_DONE = 99;

/**
 * What follows a COPY … FROM STDIN on the wire: the rows' COPY text as one CopyData message, then
 * CopyDone; or UNENCODABLE. The text is written in place inside the message (one buffer, no copy).
 */
export function copyFrames(jsons: readonly string[]): Uint8Array | undefined {
  const { b, end } = encodeRows(jsons, 5, 5);
  const o = rewrite(b, 5, end);
  if (o === UNENCODABLE) return UNENCODABLE;
  const view = new DataView(b.buffer, b.byteOffset);
  b[0] = COPY_DATA;
  view.setInt32(1, o - 1); // the length counts itself, not the type byte
  b[o] = COPY_DONE;
  view.setInt32(o + 1, 4);
  return b.subarray(0, o + 5);
}

/**
 * Rewrites the JSON rows in b[from, length) as COPY text from `from`, and returns where the text
 * ends, or UNENCODABLE. Every step writes no more bytes than it reads, so it works in place.
 */
function rewrite(b: Uint8Array, from: number, length: number): number | undefined {
  let i = from;
  let o = from;
  while (i < length) {
    if (b[i++] !== OPEN || b[i] === CLOSE) return UNENCODABLE;
    for (;;) {
      if (b[i] === QUOTE) {
        for (i++; ; ) {
          const c = b[i];
          if (c === QUOTE) break;
          if (c < 0x20 || i >= length) return UNENCODABLE;
          if (c !== BACKSLASH) {
            b[o++] = c;
            i++;
            continue;
          }
          const escaped = b[i + 1];
          if (escaped === 117 /* u */) {
            let unit = hex4(b, i + 2);
            i += 6;
            if (unit >= 0xd800 && unit <= 0xdbff && b[i] === BACKSLASH && b[i + 1] === 117) {
              const low = hex4(b, i + 2);
              if (low >= 0xdc00 && low <= 0xdfff) {
                unit = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                i += 6;
              }
            }
            // A lone surrogate (jsonb refuses it), NUL (PostgreSQL text cannot hold it), a bad escape.
            if (unit <= 0 || (unit >= 0xd800 && unit <= 0xdfff)) return UNENCODABLE;
            const copyEscape = COPY_ESCAPED[unit];
            if (copyEscape !== undefined) {
              b[o++] = BACKSLASH;
              b[o++] = copyEscape;
            } else o = utf8(b, o, unit);
          } else if (escaped === QUOTE || escaped === 47 /* / */) {
            b[o++] = escaped;
            i += 2;
          } else if (escaped === BACKSLASH || escaped === 98 || escaped === 102 || escaped === 110 || escaped === 114 || escaped === 116) {
            // \\ \b \f \n \r \t: the same two bytes mean the same in COPY text.
            b[o++] = BACKSLASH;
            b[o++] = escaped;
            i += 2;
          } else return UNENCODABLE;
        }
        i++;
      } else {
        const start = i;
        while (i < length && b[i] !== COMMA && b[i] !== CLOSE) i++;
        if (matches(b, start, i, "null")) {
          b[o++] = BACKSLASH;
          b[o++] = 78; // N
        } else if (matches(b, start, i, "true") || matches(b, start, i, "false") || plainNumber(b, start, i)) {
          b.copyWithin(o, start, i);
          o += i - start;
        } else return UNENCODABLE; // whitespace, a nested value, an exponent: not what the parsers write
      }
      const next = b[i++];
      if (next === COMMA) b[o++] = TAB;
      else if (next === CLOSE && b[i++] === NEWLINE) {
        b[o++] = NEWLINE;
        break;
      } else return UNENCODABLE;
    }
  }
  return o;
}
