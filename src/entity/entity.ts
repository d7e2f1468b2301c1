/** The shape of one generated entity definition, and the error helpers its parsers share. */
import type { PgTable } from "drizzle-orm/pg-core";
import { type FieldError, fail, type JsonRecord, type Parsed, parseJsonExact, type Row } from "./field-checks.ts";

export interface ChildDef {
  /** The parent's List[Object] field this child repeats over. */
  field: string;
  entity: string;
  /** Builds the child's JSON record from the parsed parent row and one list item. */
  derive(parent: Row, item: JsonRecord): JsonRecord;
}

export interface EntityDef {
  name: string;
  prefix: string;
  kind: "root" | "derived" | "reference";
  table: string;
  idColumn: string;
  /** Field keys in wire order (JSON keys). */
  fields: readonly string[];
  /** The name of each pipe position: the fields, and "(dropped key)" where a dropped field's position stays reserved. */
  wire: readonly string[];
  /** Column names in wire order: the order of a parsed row's values. */
  columns: readonly string[];
  naturalKey: readonly string[];
  drizzleTable: PgTable;
  /** INSERT … SELECT FROM jsonb_array_elements($1) ON CONFLICT (natural key) DO NOTHING; $1 is a JSON array of rows. */
  insertSql: string;
  /** The same, RETURNING the id of each inserted row. */
  insertReturningIdSql: string;
  /** Parses the fields of a pipe-delimited line; f[0] is the prefix. */
  parseLine(f: string[]): Parsed;
  parseRecord(r: JsonRecord): Parsed;
  children: readonly ChildDef[];
}

export function tooManyFields(expected: number, got: number): FieldError {
  return fail(expected + 1, "(extra)", `is not expected: this entity has ${expected} fields, the line has ${got}`);
}

export function missingField(fields: readonly string[], got: number, required: number): FieldError {
  const needs = required === fields.length ? `all ${required} of its fields` : `at least ${required} of its ${fields.length} fields`;
  return fail(got + 1, fields[got], `is missing: this entity needs ${needs}, the line has ${got}`);
}

export function unknownKey(key: string, known: ReadonlySet<string>): FieldError {
  return fail(0, key, `is not a field of this entity (known: ${[...known].filter((k) => k !== "entity").join(", ")})`);
}

/** A row's JSON (an array in column order) as an object keyed by column: how a rejected row is shown. */
export function rowAsObject(entity: EntityDef, json: string): string {
  const values = parseJsonExact(json) as Row;
  return JSON.stringify(Object.fromEntries(entity.columns.map((column, i) => [column, values[i]])));
}

/** A row's JSON as a JSON record naming its entity, keyed by field: what the record parser reads back into the same row. */
export function rowAsRecord(entity: EntityDef, json: string): string {
  const values = parseJsonExact(json) as Row;
  return JSON.stringify({ entity: entity.name, ...Object.fromEntries(entity.fields.map((field, i) => [field, values[i]])) });
}

/**
 * A row's JSON as the insert statements read it. Rows queued before rows became arrays are
 * objects keyed by column: a queue message sent by the previous version still writes.
 */
export function rowAsArray(entity: EntityDef, json: string): string {
  if (!json.startsWith("{")) return json;
  const row = parseJsonExact(json) as Record<string, Row[number]>;
  return JSON.stringify(entity.columns.map((column) => row[column] ?? null));
}

/** Rows' JSON per entity, in the order the entities first appear. */
export function groupRows(rows: readonly { entity: EntityDef; json: string }[]): Map<EntityDef, string[]> {
  const groups = new Map<EntityDef, string[]>();
  for (const row of rows) {
    const group = groups.get(row.entity);
    if (group) group.push(row.json);
    else groups.set(row.entity, [row.json]);
  }
  return groups;
}
