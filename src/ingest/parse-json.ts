/** JSON records in, rows out: an NDJSON line or a document's element, with its derived children (an Order's line_items). */
import type { EntityDef } from "../entity/entity.ts";
import { isRecord, type JsonRecord, parseJsonExact } from "../entity/field-checks.ts";
import { entityByName, entityForKeys, NAMES } from "../registry.ts";
import type { RowToWrite } from "../writer/rows.ts";
import { type InvalidLines, type LineOptions, lineError, type ParsedBody, push } from "./parsed-body.ts";

function resolveEntity(record: JsonRecord, forced: EntityDef | undefined): EntityDef | string {
  if (record.entity !== undefined) {
    const named = typeof record.entity === "string" ? entityByName(record.entity) : undefined;
    if (!named) return `unknown entity ${JSON.stringify(record.entity)} (known: ${NAMES})`;
    if (forced && named !== forced) return `record says entity ${named.name}, the request says ${forced.name}`;
    return named;
  }
  if (forced) return forced;
  const guess = entityForKeys(Object.keys(record));
  if (guess === "ambiguous") return `record matches several entities: add "entity" (one of ${NAMES})`;
  return guess ?? `record matches no entity: add "entity" (one of ${NAMES}) or use the fields of one`;
}

/** One JSON record, with the rows of its derived children (an Order's line_items): all or none. */
export function parseRecord(record: unknown, lineNumber: number, source: string | (() => string), out: ParsedBody, options: LineOptions = {}): void {
  const { forced, scope, maxLineChars = Infinity } = options;
  // Array elements have no source line of their own: their text is made only for an error.
  const line = () => (typeof source === "string" ? source : source());
  if (!isRecord(record)) {
    out.errors.push(
      lineError(
        lineNumber,
        forced ?? null,
        `expected a JSON object, got ${Array.isArray(record) ? "an array" : record === null ? "null" : typeof record}`,
        line(),
      ),
    );
    return;
  }
  const entity = resolveEntity(record, forced);
  if (typeof entity === "string") {
    out.errors.push(lineError(lineNumber, null, entity, line()));
    return;
  }
  if (scope && !scope.writable.has(entity)) {
    out.errors.push(lineError(lineNumber, entity, scope.refusal(entity), line(), undefined, { raw: line(), reason: "scope" }));
    return;
  }
  const parsed = entity.parseRecord(record);
  if (!Array.isArray(parsed)) {
    out.errors.push(lineError(lineNumber, entity, parsed.message, line(), parsed));
    return;
  }
  const rows: RowToWrite[] = [{ entity, json: JSON.stringify(parsed), lineNumber }];
  if (rows[0].json.length > maxLineChars) {
    out.errors.push(lineError(lineNumber, entity, `the record is larger than the limit of ${maxLineChars} bytes (MAX_LINE_BYTES)`, line()));
    return;
  }
  for (const child of entity.children) {
    const items = record[child.field];
    if (items === undefined || items === null) continue;
    if (!Array.isArray(items)) {
      out.errors.push(lineError(lineNumber, entity, `'${child.field}' must be a list of objects`, line()));
      return;
    }
    const childEntity = entityByName(child.entity)!;
    if (items.length > 0 && scope && !scope.writable.has(childEntity)) {
      out.errors.push(lineError(lineNumber, childEntity, `${child.field}: ${scope.refusal(childEntity)}`, line(), undefined, { raw: line(), reason: "scope" }));
      return;
    }
    for (let i = 0; i < items.length; i++) {
      const item: unknown = items[i];
      if (!isRecord(item)) {
        out.errors.push(lineError(lineNumber, childEntity, `${child.field}[${i}]: must be an object`, line()));
        return;
      }
      const childParsed = childEntity.parseRecord(child.derive(parsed, item));
      if (!Array.isArray(childParsed)) {
        out.errors.push(lineError(lineNumber, childEntity, `${child.field}[${i}]: ${childParsed.message}`, line(), childParsed));
        return;
      }
      rows.push({ entity: childEntity, json: JSON.stringify(childParsed), lineNumber });
    }
  }
  for (const row of rows) push(out, row.entity, row.json, lineNumber);
}

export function parseJsonText(text: string, lineNumber: number, out: ParsedBody): unknown {
  try {
    return parseJsonExact(text);
  } catch (error) {
    out.errors.push(lineError(lineNumber, null, `invalid JSON: ${(error as Error).message}`, text));
    return undefined;
  }
}

/** A JSON document's records (one, or an array's elements), counted as messages; an unreadable document is one rejected message. */
export function jsonRecords(text: string, invalidLines: InvalidLines, out: ParsedBody): unknown[] {
  if (invalidLines.size > 0) {
    const first = invalidLines.keys().next().value;
    out.errors.push(
      lineError(1, null, `body is not valid UTF-8 (line ${first})`, "", undefined, {
        raw: (invalidLines instanceof Map ? invalidLines.get(first) : undefined) ?? "",
      }),
    );
    out.messages++;
    return [];
  }
  const before = out.errors.length;
  const value = parseJsonText(text, 1, out);
  const records = Array.isArray(value) ? value : value === undefined ? [] : [value];
  out.messages += Math.max(records.length, out.errors.length - before);
  return records;
}

/** Records `start` to `end` (exclusive) of a document, numbered from 1. */
export function parseRecords(records: unknown[], start: number, end: number, out: ParsedBody, options: LineOptions = {}): void {
  for (let i = start; i < Math.min(end, records.length); i++) {
    const record = records[i];
    parseRecord(record, i + 1, () => JSON.stringify(record) ?? "", out, options);
  }
}
