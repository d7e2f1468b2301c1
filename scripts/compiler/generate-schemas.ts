/** Emits src/generated/schemas.ts: zod schemas of the JSON record forms (for validation docs and OpenAPI). */
import type { EntityModel, FieldModel, FieldType } from "./model.ts";

const ZOD: Record<FieldType, string> = {
  string: "z.union([z.string(), z.number().int()])",
  integer: "z.union([z.number().int().min(-2147483648).max(2147483647), z.string().regex(/^[+-]?\\d{1,10}$/)])",
  bigint: "z.union([z.number().int(), z.string().regex(/^[+-]?\\d{1,19}$/)])",
  float: "z.union([z.number(), z.string()])",
  decimal: "z.union([z.number(), z.string().regex(/^[+-]?(\\d+(\\.\\d*)?|\\.\\d+)$/)])",
  boolean: 'z.union([z.boolean(), z.enum(["true", "false", "t", "f", "1", "0"])])',
  date: "z.iso.date()",
  timestamp: "z.string()",
  uuid: "z.uuid()",
  json: "z.unknown()",
  string_list: "z.array(z.string())",
};

function fieldSchema(f: FieldModel): string {
  let s = ZOD[f.type];
  const c = f.constraints;
  if (f.type === "string") {
    s = "z.string()";
    if (c.minLength !== undefined) s += `.min(${c.minLength})`;
    if (c.maxLength !== undefined) s += `.max(${c.maxLength})`;
    if (c.pattern !== undefined) s += `.regex(new RegExp(${JSON.stringify(c.pattern)}, "u"))`;
    if (c.enum !== undefined) s = `z.enum(${JSON.stringify(c.enum)})`;
  }
  if (f.doc) s += `.describe(${JSON.stringify(f.doc)})`;
  if (f.nullable) return `${s}.nullable().optional()`;
  return f.default === undefined ? s : `${s}.nullable().optional()`;
}

export function generateSchemas(entities: EntityModel[], header: string): string {
  const out = [header, `import { z } from "zod";`, ""];
  // Children first: a parent's list field refers to its child's item schema.
  const ordered = [...entities].sort((a, b) => Number(!a.repeatedFor) - Number(!b.repeatedFor));
  for (const e of ordered) {
    const fields = e.fields.map((f) => `  ${JSON.stringify(f.key)}: ${fieldSchema(f)},`);
    for (const l of e.listFields) {
      const child = entities.find((c) => c.repeatedFor?.entity === e.name && c.repeatedFor.field === l.key);
      const item = child ? `${child.name}Item` : "z.record(z.string(), z.unknown())";
      fields.push(`  ${JSON.stringify(l.key)}: z.array(${item})${l.nullable ? ".nullable().optional()" : ""},`);
    }
    if (e.repeatedFor) {
      const itemFields = e.fields
        .filter((f) => f.derivation?.from === "item")
        .map((f) => `  ${JSON.stringify((f.derivation as { key: string }).key)}: ${fieldSchema(f)},`);
      out.push(`/** One element of ${e.repeatedFor.entity}.${e.repeatedFor.field}, written as a ${e.name} row. */`);
      out.push(`export const ${e.name}Item = z.object({\n${itemFields.join("\n")}\n});\n`);
    }
    out.push(`/** ${e.doc ?? e.name}: a JSON record (prefix ${e.prefix}). */`);
    out.push(`export const ${e.name}Record = z.strictObject({\n  entity: z.literal(${JSON.stringify(e.name)}).optional(),\n${fields.join("\n")}\n});\n`);
  }
  out.push(`export const RECORD_SCHEMAS = { ${entities.map((e) => `${e.name}: ${e.name}Record`).join(", ")} } as const;`);
  return out.join("\n") + "\n";
}
