/**
 * Emits src/generated/client-entities.d.ts: a TypeScript interface per entity for nomnom-edge/client, so that
 * `client.send("Order", record)` checks the record's fields at compile time. Each field has its
 * natural type (a number for integer and float, a boolean for boolean); text fields also take a
 * number, and decimal and bigint fields their exact text, as the record parser does. The server
 * takes more spellings still (numbers as text): those are for JSON bodies, not for typed code.
 */
import type { EntityModel, FieldModel } from "./model.ts";

function fieldType(f: FieldModel): string {
  switch (f.type) {
    case "string":
      return f.constraints.enum ? f.constraints.enum.map((value) => JSON.stringify(value)).join(" | ") : "string | number";
    case "integer":
    case "float":
      return "number";
    case "bigint":
    case "decimal":
      return "number | string";
    case "boolean":
      return "boolean";
    case "date":
    case "uuid":
      return "string";
    case "timestamp":
      return "string | Date";
    case "json":
      return "unknown";
    case "string_list":
      return "string[]";
  }
}

const doc = (text: string | undefined, indent = "  ") => (text ? `${indent}/** ${text.replaceAll("*/", "*\\/")} */\n` : "");

function property(key: string, type: string, optional: boolean, text?: string): string {
  const name = /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
  return `${doc(text)}  ${name}${optional ? "?" : ""}: ${type}${optional ? " | null" : ""};`;
}

/** A field with a default, or nullable, may be left out or null; every other field is required. */
const optional = (f: FieldModel) => f.nullable || f.default !== undefined;

export function generateClientTypes(entities: EntityModel[], header: string): string {
  const out: string[] = [header];
  for (const e of entities) {
    const child = (field: string) => entities.find((c) => c.repeatedFor?.entity === e.name && c.repeatedFor.field === field);
    const fields = e.fields.map((f) => property(f.key, fieldType(f), optional(f), f.doc));
    for (const l of e.listFields) {
      const repeated = child(l.key);
      fields.push(property(l.key, repeated ? `${repeated.name}Item[]` : "unknown[]", l.nullable, l.doc));
    }
    if (e.repeatedFor) {
      const items = e.fields.filter((f) => f.derivation?.from === "item");
      const itemFields = items.map((f) => property((f.derivation as { key: string }).key, fieldType(f), optional(f), f.doc));
      out.push(`/** One element of ${e.repeatedFor.entity}.${e.repeatedFor.field}, written as a ${e.name} row. */`);
      out.push(`export interface ${e.name}Item {\n${itemFields.join("\n")}\n}\n`);
    }
    out.push(`/** ${e.doc ?? e.name} (prefix ${e.prefix}, table ${e.table}). */`);
    out.push(`export interface ${e.name} {\n${fields.join("\n")}\n}\n`);
  }
  out.push("/** Every entity's record, by entity name: what `client.send(entity, record)` takes. */");
  out.push(`export interface Records {\n${entities.map((e) => `  ${e.name}: ${e.name};`).join("\n")}\n}\n`);
  out.push("export type EntityName = keyof Records;");
  return `${out.join("\n")}\n`;
}
