/**
 * Emits src/generated/registry.ts: per entity a specialised pipe-line parser, a JSON record
 * parser and derivation code, as straight-line TypeScript with the checks unrolled per field.
 */
import type { EntityModel, FieldModel, FieldType } from "./model.ts";

const TEXT_CHECK: Record<FieldType, [helper: string | undefined, expected: string]> = {
  string: [undefined, "text"],
  integer: ["textInteger", "an integer between -2147483648 and 2147483647"],
  bigint: ["textBigint", "a 64-bit integer"],
  float: ["textFloat", "a number like 1.5 or 2e-3"],
  decimal: ["textDecimal", "a decimal number like 123.45"],
  boolean: ["textBoolean", "true or false"],
  date: ["textDate", "a real date YYYY-MM-DD"],
  timestamp: ["textTimestamp", "an ISO 8601 timestamp"],
  uuid: ["textUuid", "a UUID"],
  json: ["textJson", "JSON"],
  string_list: ["textStringList", "a JSON array of strings"],
};

export const JSON_CHECK: Record<FieldType, [helper: string, expected: string]> = {
  string: ["jsonString", "a string"],
  integer: ["jsonInteger", "an integer between -2147483648 and 2147483647"],
  bigint: ["jsonBigint", "a 64-bit integer"],
  float: ["jsonFloat", "a number"],
  decimal: ["jsonDecimal", "a decimal number like 123.45"],
  boolean: ["jsonBoolean", "true or false"],
  date: ["jsonDate", 'a real date "YYYY-MM-DD"'],
  timestamp: ["jsonTimestamp", "an ISO 8601 timestamp"],
  uuid: ["jsonUuid", "a UUID"],
  json: ["jsonJson", "JSON"],
  string_list: ["jsonStringList", "an array of strings"],
};

const q = (s: string) => JSON.stringify(s);
const ident = (s: string) => s.replace(/[^A-Za-z0-9_]/g, "_");

/**
 * The declared constraints (length, range, pattern, enum, precision) of a field whose checked value
 * is in `v`: each a condition that rejects it, with the parser's error. One definition for both
 * parsers and for the zod schemas (generate-schemas.ts), so they cannot disagree on them.
 */
export function constraintFailures(f: FieldModel, pos: number, v: string, checkNul: boolean): { when: string; error: string }[] {
  const c = f.constraints;
  const name = q(f.key);
  const guard = f.nullable ? `${v} !== null && ` : "";
  const isText = f.type === "string";
  const out: { when: string; error: string }[] = [];
  // Pipe lines are checked for NUL once per line, before splitting; JSON strings here.
  if (isText && checkNul) out.push({ when: `${guard}hasNul(${v} as string)`, error: `fail(${pos}, ${name}, "contains a NUL character")` });
  if (c.minLength !== undefined)
    out.push({ when: `${guard}(${v} as string).length < ${c.minLength}`, error: `fail(${pos}, ${name}, "must be at least ${c.minLength} characters")` });
  if (c.maxLength !== undefined)
    out.push({ when: `${guard}(${v} as string).length > ${c.maxLength}`, error: `fail(${pos}, ${name}, "must be at most ${c.maxLength} characters")` });
  if (c.minimum !== undefined) out.push({ when: `${guard}Number(${v}) < ${c.minimum}`, error: `invalid(${pos}, ${name}, "at least ${c.minimum}", ${v})` });
  if (c.maximum !== undefined) out.push({ when: `${guard}Number(${v}) > ${c.maximum}`, error: `invalid(${pos}, ${name}, "at most ${c.maximum}", ${v})` });
  if (c.pattern !== undefined)
    out.push({
      when: `${guard}!/${c.pattern.replace(/\//g, "\\/")}/u.test(${v} as string)`,
      error: `invalid(${pos}, ${name}, ${q(`text matching /${c.pattern}/`)}, ${v})`,
    });
  if (c.enum !== undefined)
    out.push({
      when: `${guard}!${JSON.stringify(c.enum)}.includes(${v} as string)`,
      error: `invalid(${pos}, ${name}, ${q(`one of ${c.enum.join(", ")}`)}, ${v})`,
    });
  if (c.precision !== undefined && f.type === "decimal") {
    const intDigits = c.precision - (c.scale ?? 0);
    out.push({
      when: `${guard}!/^[+-]?0*\\d{0,${intDigits}}(\\.\\d{0,${c.scale ?? 0}})?$/.test(${v} as string)`,
      error: `invalid(${pos}, ${name}, "a decimal with at most ${intDigits} digits before and ${c.scale ?? 0} after the point", ${v})`,
    });
  }
  return out;
}

function constraintChecks(f: FieldModel, pos: number, v: string, out: string[], checkNul: boolean): void {
  for (const { when, error } of constraintFailures(f, pos, v, checkNul)) out.push(`  if (${when}) return ${error};`);
}

/** The pipe wire of an entity: each position's field, or the key of a dropped field whose position stays reserved. */
export function wireSlots(e: EntityModel): (FieldModel | { reserved: string })[] {
  const slots: (FieldModel | { reserved: string })[] = [...e.fields];
  for (const r of e.reserved ?? []) slots.splice(r.position - 1, 0, { reserved: r.key });
  return slots;
}

/** Names of the wire positions, as errors show them. */
export const wireNames = (e: EntityModel) => wireSlots(e).map((s) => ("reserved" in s ? `(dropped ${s.reserved})` : s.key));

function lineParser(e: EntityModel): string {
  const slots = wireSlots(e);
  const n = slots.length;
  let lastRequired = 0;
  // A field with a default may be omitted like a nullable one: older senders do not know it yet.
  slots.forEach((f, i) => {
    if (!("reserved" in f) && !f.nullable && f.default === undefined) lastRequired = i + 1;
  });
  const out: string[] = [];
  out.push(`/** ${e.prefix}|${wireNames(e).join("|")} */`);
  out.push(`function parse${e.name}Line(f: string[]): Parsed {`);
  out.push(`  if (f.length > ${n + 1}) return tooManyFields(${n}, f.length - 1);`);
  if (lastRequired > 0) out.push(`  if (f.length < ${lastRequired + 1}) return missingField(WIRE_${e.name}, f.length - 1, ${lastRequired});`);
  const values: string[] = [];
  slots.forEach((f, i) => {
    const pos = i + 1;
    // A dropped field's position: whatever a sender still puts there is ignored.
    if ("reserved" in f) return;
    const v = `v${pos}`;
    values.push(v);
    const raw = `f[${pos}]`;
    const [helper, expected] = TEXT_CHECK[f.type];
    if (f.default !== undefined) {
      // A missing or empty field takes its default, exactly as if the sender had written it.
      out.push(`  const r${pos} = ${raw} === undefined || ${raw} === "" ? ${q(f.default)} : ${raw};`);
      if (helper) {
        out.push(`  const ${v} = ${helper}(r${pos});`);
        out.push(`  if (${v} === undefined) return invalid(${pos}, ${q(f.key)}, ${q(expected)}, r${pos});`);
      } else {
        out.push(`  const ${v} = r${pos};`);
      }
    } else if (f.nullable) {
      // Trailing nullable fields may be omitted: a missing field reads as undefined, i.e. NULL.
      if (helper) {
        out.push(`  const r${pos} = ${raw};`);
        out.push(`  const ${v} = r${pos} === undefined || r${pos} === "" ? null : ${helper}(r${pos});`);
        out.push(`  if (${v} === undefined) return invalid(${pos}, ${q(f.key)}, ${q(expected)}, r${pos});`);
      } else {
        out.push(`  const ${v} = ${raw} || null;`);
      }
    } else {
      out.push(`  if (${raw} === "") return required(${pos}, ${q(f.key)});`);
      if (helper) {
        out.push(`  const ${v} = ${helper}(${raw});`);
        out.push(`  if (${v} === undefined) return invalid(${pos}, ${q(f.key)}, ${q(expected)}, ${raw});`);
      } else {
        out.push(`  const ${v} = ${raw};`);
      }
    }
    constraintChecks(f, pos, v, out, false);
  });
  out.push(`  return [${values.join(", ")}];`);
  out.push(`}`);
  return out.join("\n");
}

function recordParser(e: EntityModel): string {
  const out: string[] = [];
  const renamed = e.fields.filter((f) => f.renamedFrom !== undefined && !e.fields.some((g) => g.key === f.renamedFrom));
  const keys = ["entity", ...e.fields.map((f) => f.key), ...e.listFields.map((l) => l.key), ...renamed.map((f) => f.renamedFrom!)];
  out.push(`const KEYS_${e.name} = new Set(${JSON.stringify(keys)});`);
  out.push(`function parse${e.name}Record(r: JsonRecord): Parsed {`);
  out.push(`  for (const key in r) if (!KEYS_${e.name}.has(key)) return unknownKey(key, KEYS_${e.name});`);
  // After a rename, the old name is an alias: senders not yet updated keep working.
  for (const f of renamed) {
    out.push(
      `  if (r[${q(f.key)}] !== undefined && r[${q(f.renamedFrom!)}] !== undefined) return fail(0, ${q(f.renamedFrom!)}, ${q(`is the former name of ${f.key}: send one of them, not both`)});`,
    );
  }
  const position = new Map(wireSlots(e).map((slot, i) => ["reserved" in slot ? `#${i}` : slot.key, i + 1]));
  e.fields.forEach((f) => {
    const pos = position.get(f.key)!;
    const v = `v${pos}`;
    const [helper, expected] = JSON_CHECK[f.type];
    const access = renamed.includes(f) ? `(r[${q(f.key)}] ?? r[${q(f.renamedFrom!)}])` : `r[${q(f.key)}]`;
    if (f.default !== undefined) {
      out.push(`  const ${v} = ${access} === undefined || ${access} === null ? ${helper}(${q(f.default)}) : ${helper}(${access});`);
    } else if (f.nullable) {
      out.push(`  const ${v} = ${access} === undefined || ${access} === null ? null : ${helper}(${access});`);
    } else {
      out.push(`  if (${access} === undefined || ${access} === null || ${access} === "") return required(${pos}, ${q(f.key)});`);
      out.push(`  const ${v} = ${helper}(${access});`);
    }
    out.push(`  if (${v} === undefined) return invalid(${pos}, ${q(f.key)}, ${q(expected)}, ${access});`);
    constraintChecks(f, pos, v, out, true);
  });
  for (const l of e.listFields) {
    if (!l.nullable) out.push(`  if (!Array.isArray(r[${q(l.key)}])) return fail(0, ${q(l.key)}, "must be a list");`);
  }
  out.push(`  return [${e.fields.map((f) => `v${position.get(f.key)}`).join(", ")}];`);
  out.push(`}`);
  return out.join("\n");
}

/** The JSON record a derived entity's parser sees, built from the parent row and one list item. */
function deriver(child: EntityModel, parent: EntityModel): string {
  const parentIndex = (key: string) => parent.fields.findIndex((f) => f.key === key);
  const parts = child.fields.map((f) => {
    const d = f.derivation!;
    if (d.from === "parent") return `${q(f.key)}: parent[${parentIndex(d.field)}]`;
    if (d.from === "item") return `${q(f.key)}: item[${q(d.key)}]`;
    return `${q(f.key)}: ${JSON.stringify(d.value)}`;
  });
  return [`function derive${child.name}From${parent.name}(parent: Row, item: JsonRecord): JsonRecord {`, `  return { ${parts.join(", ")} };`, `}`].join("\n");
}

const SQL_TYPE: Record<FieldType, string> = {
  string: "text",
  integer: "integer",
  bigint: "bigint",
  float: "double precision",
  decimal: "numeric",
  boolean: "boolean",
  date: "date",
  timestamp: "timestamptz",
  uuid: "uuid",
  json: "jsonb",
  string_list: "text[]",
};
const sqlId = (s: string) => `"${s.replace(/"/g, '""')}"`;

export function sqlType(f: FieldModel): string {
  if (f.type === "string" && f.constraints.maxLength !== undefined) return `varchar(${f.constraints.maxLength})`;
  if (f.type === "decimal" && f.constraints.precision !== undefined) return `numeric(${f.constraints.precision}, ${f.constraints.scale ?? 0})`;
  return SQL_TYPE[f.type];
}

/** A row's value as its column's type, from element i of the row's JSON array `e` (jsonb). */
function fromElement(f: FieldModel, i: number): string {
  // JSON null is SQL NULL, as for every other type; a json column otherwise keeps the value as is.
  if (f.type === "json") return `NULLIF(e->${i}, 'null'::jsonb)`;
  if (f.type === "string_list") return `CASE WHEN jsonb_typeof(e->${i}) = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(e->${i})) END`;
  // Text goes in as text, and the base type of others without its length or scale: the INSERT's
  // own assignment then refuses a value too long for varchar(n), where a cast would cut it.
  if (f.type === "string") return `e->>${i}`;
  return `(e->>${i})::${SQL_TYPE[f.type]}`;
}

/**
 * One statement per chunk: $1 is a JSON array of rows, each a JSON array of its values in column
 * order, which is a third of the bytes of objects keyed by column and a third less work for
 * PostgreSQL (jsonb_array_elements against json_to_recordset, measured). Rows go in in
 * natural-key order, so concurrent statements lock keys in one order and cannot deadlock.
 */
function insertSql(e: EntityModel, returning: boolean): string {
  const cols = e.fields.map((f) => sqlId(f.column)).join(", ");
  const values = e.fields.map(fromElement).join(", ");
  const key = e.naturalKey.map(sqlId).join(", ");
  const target = e.naturalKey.length > 0 ? ` (${key})` : "";
  const order = e.naturalKey.length > 0 ? ` ORDER BY ${e.naturalKey.map((k) => e.fields.findIndex((f) => f.column === k) + 1).join(", ")}` : "";
  return (
    `INSERT INTO ${sqlId(e.table)} (${cols}) SELECT ${values} FROM jsonb_array_elements($1::jsonb) AS r(e)${order} ON CONFLICT${target} DO NOTHING` +
    (returning ? ` RETURNING ${sqlId(e.idColumn)}` : "")
  );
}

export function generateRegistry(
  entities: EntityModel[],
  version: string,
  schema: { level: number; migrations: string[] },
  header: string,
  entityDir = "../entity",
): string {
  const out: string[] = [header];
  out.push(`import {`);
  out.push(`  fail, hasNul, invalid, required, type JsonRecord, type Parsed, type Row,`);
  out.push(
    `  ${Object.values(TEXT_CHECK)
      .map(([h]) => h)
      .filter(Boolean)
      .join(", ")},`,
  );
  out.push(
    `  ${Object.values(JSON_CHECK)
      .map(([h]) => h)
      .join(", ")},`,
  );
  out.push(`} from "${entityDir}/field-checks.ts";`);
  out.push(`import { missingField, tooManyFields, unknownKey, type EntityDef } from "${entityDir}/entity.ts";`);
  out.push(`import * as tables from "./tables.ts";`);
  out.push(``);
  out.push(`export const REGISTRY_VERSION = ${q(version)};`);
  out.push(`/** The migrations this Worker's code needs, in order: the database must have applied the last one. */`);
  out.push(`export const SCHEMA_MIGRATIONS: readonly string[] = ${JSON.stringify(schema.migrations)};`);
  out.push(`export const SCHEMA_LEVEL = ${schema.level};`);
  for (const e of entities) {
    out.push(``);
    out.push(`// ── ${e.name} (${e.file}) ──`);
    out.push(`const FIELDS_${e.name} = ${JSON.stringify(e.fields.map((f) => f.key))};`);
    out.push(`const WIRE_${e.name} = ${e.reserved ? JSON.stringify(wireNames(e)) : `FIELDS_${e.name}`};`);
    out.push(lineParser(e));
    out.push(recordParser(e));
    const parent = e.repeatedFor && entities.find((p) => p.name === e.repeatedFor!.entity);
    if (parent) out.push(deriver(e, parent));
  }
  out.push(``);
  out.push(`/** Every entity, in YAML file order. */`);
  out.push(`export const ENTITIES: readonly EntityDef[] = [`);
  for (const e of entities) {
    const children = entities.filter((c) => c.repeatedFor?.entity === e.name);
    out.push(`  {`);
    out.push(`    name: ${q(e.name)}, prefix: ${q(e.prefix)}, kind: ${q(e.kind)}, table: ${q(e.table)}, idColumn: ${q(e.idColumn)},`);
    out.push(
      `    fields: FIELDS_${e.name}, wire: WIRE_${e.name}, columns: ${JSON.stringify(e.fields.map((f) => f.column))}, naturalKey: ${JSON.stringify(e.naturalKey)},`,
    );
    out.push(`    drizzleTable: tables.${ident(e.table)},`);
    out.push(`    insertSql: ${q(insertSql(e, false))},`);
    out.push(`    insertReturningIdSql: ${q(insertSql(e, true))},`);
    out.push(`    parseLine: parse${e.name}Line, parseRecord: parse${e.name}Record,`);
    out.push(
      `    children: [${children.map((c) => `{ field: ${q(c.repeatedFor!.field)}, entity: ${q(c.name)}, derive: derive${c.name}From${e.name} }`).join(", ")}],`,
    );
    out.push(`  },`);
  }
  out.push(`];`);
  return out.join("\n") + "\n";
}

export { insertSql, sqlId };
