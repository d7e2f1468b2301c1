/**
 * A row's JSON (an array in column order, as the parsers write it) as one line of COPY's text format.
 * The INSERT path reads each value with `e->>i`; this gives COPY the same text. JSON's string escapes
 * (\" \\ \/ \b \f \n \r \t) mean the same in COPY text, so most strings pass through as they are;
 * only \uXXXX needs decoding. A value whose `e->>i` text this cannot reproduce exactly (a nested
 * array or object, a number with an exponent or -0, a lone surrogate) makes the row unencodable:
 * the caller then writes the chunk with INSERT.
 */

/** The row cannot be written as COPY text with certainty: write it with INSERT. */
export const UNENCODABLE = undefined;

/** A plain decimal: jsonb prints it back as written (an exponent, or a negative zero, it would rewrite). */
const PLAIN_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?$/;
const NEGATIVE_ZERO = /^-0(\.0+)?$/;

/** COPY text's escapes for a decoded string (backslash, tab, newline, carriage return). */
const COPY_SPECIAL = /[\\\t\n\r]/g;
const COPY_ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

function stringValue(json: string, start: number): [text: string | undefined, end: number] {
  let i = start + 1;
  let escaped = false;
  let unicode = false;
  for (;;) {
    const c = json.charCodeAt(i);
    if (c === 34 /* " */) break;
    if (c === 92 /* \ */) {
      escaped = true;
      if (json.charCodeAt(i + 1) === 117 /* u */) unicode = true;
      i += 2;
    } else if (Number.isNaN(c)) return [UNENCODABLE, i];
    else i++;
  }
  const body = json.slice(start + 1, i);
  if (!escaped || !unicode) return [body, i + 1];
  const decoded = JSON.parse(`"${body}"`) as string;
  // A lone surrogate would be written as U+FFFD; jsonb refuses it: let INSERT give the exact answer.
  if (!decoded.isWellFormed()) return [UNENCODABLE, i + 1];
  return [decoded.replace(COPY_SPECIAL, (ch) => COPY_ESCAPES[ch]), i + 1];
}

/** The COPY text line (with its newline) for one row's JSON array, or UNENCODABLE. */
export function copyLine(json: string): string | undefined {
  if (json.charCodeAt(0) !== 91 /* [ */) return UNENCODABLE;
  let line = "";
  let i = 1;
  if (json.charCodeAt(i) === 93 /* ] */) return UNENCODABLE;
  for (;;) {
    const c = json.charCodeAt(i);
    let value: string | undefined;
    let end: number;
    if (c === 34) [value, end] = stringValue(json, i);
    else {
      end = i;
      while (end < json.length && json.charCodeAt(end) !== 44 /* , */ && json.charCodeAt(end) !== 93 /* ] */) end++;
      const token = json.slice(i, end);
      if (token === "null") value = "\\N";
      else if (token === "true" || token === "false" || (PLAIN_NUMBER.test(token) && !NEGATIVE_ZERO.test(token))) value = token;
      else value = UNENCODABLE; // whitespace, a nested value, an exponent: not what the parsers write
    }
    if (value === UNENCODABLE) return UNENCODABLE;
    line += value;
    const next = json.charCodeAt(end);
    if (next === 93 /* ] */) return end === json.length - 1 ? `${line}\n` : UNENCODABLE;
    if (next !== 44 /* , */) return UNENCODABLE;
    line += "\t";
    i = end + 1;
  }
}
