/**
 * Emits src/generated/schemas.ts: zod schemas of the JSON record forms, for the OpenAPI document.
 * Each field is a shape the document can show (types, patterns, ranges, lengths), refined by the
 * check the generated record parser runs on it: the same field-checks helper and the same
 * constraint conditions (constraintFailures). So a schema accepts a record exactly when the parser
 * does (test/node/schema-agreement.test.ts), and says so as far as JSON Schema can.
 */
import { constraintFailures, JSON_CHECK } from "./generate-registry.ts";
import type { EntityModel, FieldModel } from "./model.ts";

const q = (s: string) => JSON.stringify(s);
const INT4: [number, number] = [-2147483648, 2147483647];
// A JSON number the parser takes as an integer (or as a key's text) must be one a double holds exactly.
const SAFE: [number, number] = [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];

/** What the document shows of a field's non-null value. Never stricter than the parser: the refinement decides the rest. */
function shape(f: FieldModel, required: boolean): string {
  const c = f.constraints;
  // The type's own bounds, narrowed by the declared ones.
  const bounds = ([lowest, highest]: [number, number]) => {
    const min = Math.max(lowest, c.minimum ?? lowest);
    const max = Math.min(highest, c.maximum ?? highest);
    return (Number.isFinite(min) ? `.min(${min})` : "") + (Number.isFinite(max) ? `.max(${max})` : "");
  };
  switch (f.type) {
    case "string": {
      let text = "z.string()";
      const shortest = Math.max(required ? 1 : 0, c.minLength ?? 0);
      if (shortest > 0) text += `.min(${shortest})`;
      if (c.maxLength !== undefined) text += `.max(${c.maxLength})`;
      if (c.pattern !== undefined) text += `.regex(new RegExp(${q(c.pattern)}, "u"))`;
      if (c.enum !== undefined) {
        // Only the values the other rules let through, so the document lists what is really accepted.
        const pattern = c.pattern === undefined ? undefined : new RegExp(c.pattern, "u");
        const allowed = c.enum.filter(
          (value) => value.length >= shortest && value.length <= (c.maxLength ?? Infinity) && !value.includes("\u0000") && (pattern?.test(value) ?? true),
        );
        // An enum is its values only; a value that is an integer's decimal text is also taken as that number.
        const numbers = allowed.filter((value) => String(Number(value)) === value && Number.isSafeInteger(Number(value))).map(Number);
        const values = `z.enum(${JSON.stringify(allowed)})`;
        return numbers.length === 0 ? values : `z.union([${values}, z.literal(${JSON.stringify(numbers)})])`;
      }
      // A safe integer is taken as its decimal text (keys sent as numbers).
      return `z.union([${text}, z.int().min(${SAFE[0]}).max(${SAFE[1]})])`;
    }
    case "integer":
      return `z.union([z.int()${bounds(INT4)}, z.string().regex(INT)])`;
    case "bigint":
      return `z.union([z.int()${bounds(SAFE)}, z.string().regex(BIGINT)])`;
    case "float":
      return `z.union([z.number()${bounds([-Infinity, Infinity])}, z.string().regex(FLOAT)])`;
    case "decimal":
      return `z.union([z.number()${bounds([-Infinity, Infinity])}, z.string().regex(DECIMAL)])`;
    case "boolean":
      return `z.union([z.boolean(), z.string().regex(/^([tT]([rR][uU][eE])?|[fF]([aA][lL][sS][eE])?|[01])$/)])`;
    case "date":
      return "z.iso.date()";
    case "timestamp":
      return "z.string().regex(TIMESTAMP)";
    case "uuid":
      return "z.guid()";
    case "json":
      return "z.unknown()";
    case "string_list":
      return "z.array(z.string())";
  }
}

/** The record parser's own check of a present, non-null value: its helper, its "required" rule, its constraints. */
function refinement(f: FieldModel, required: boolean): string {
  const [helper] = JSON_CHECK[f.type];
  // The parser calls a required field missing when it is null or "": the shape of text says so (.min(1)), of JSON cannot.
  const present = required && f.type === "json" ? [`value !== null`, `value !== ""`] : [];
  // Null never reaches a refinement (.nullable() answers it first): the conditions need no null guard.
  const failures = constraintFailures({ ...f, nullable: false }, 0, "v", true).map(({ when }) => `!(${when})`);
  const conditions = [...present, "v !== undefined", ...failures];
  if (conditions.length === 1) return `.refine((value) => ${helper}(value) !== undefined)`;
  return `.refine((value) => {\n    const v = ${helper}(value);\n    return ${conditions.join(" && ")};\n  })`;
}

function fieldSchema(f: FieldModel): string {
  // A field with a default takes it when missing or null, as a nullable field takes null.
  const required = !f.nullable && f.default === undefined;
  let s = shape(f, required) + refinement(f, required);
  if (f.doc) s += `.describe(${q(f.doc)})`;
  return required ? s : `${s}.nullable().optional()`;
}

/** A renamed field, and its former name: each optional, the record's refinement requires one of them when the field is required. */
function aliasSchema(f: FieldModel): string {
  let s = shape(f, false) + refinement(f, false);
  if (f.doc) s += `.describe(${q(f.doc)})`;
  return `${s}.nullable().optional()`;
}

export function generateSchemas(entities: EntityModel[], header: string, entityDir = "../entity"): string {
  const out: string[] = [];
  // Children first: a parent's list field refers to its child's item schema.
  const ordered = [...entities].sort((a, b) => Number(!a.repeatedFor) - Number(!b.repeatedFor));
  for (const e of ordered) {
    // After a rename the former name is an alias (as in the record parser): either key, not both.
    const renamed = e.fields.filter((f) => f.renamedFrom !== undefined && !e.fields.some((g) => g.key === f.renamedFrom));
    const fields = e.fields.map((f) => `  ${q(f.key)}: ${renamed.includes(f) ? aliasSchema(f) : fieldSchema(f)},`);
    for (const f of renamed) fields.push(`  ${q(f.renamedFrom!)}: ${aliasSchema(f)},`);
    for (const l of e.listFields) {
      const child = entities.find((c) => c.repeatedFor?.entity === e.name && c.repeatedFor.field === l.key);
      // Only a list a child repeats over is read (its items become child rows); another is kept as it is.
      const list = child
        ? `z.array(${child.name}Item)${l.nullable ? ".nullable().optional()" : ""}`
        : l.nullable
          ? "z.unknown().optional()"
          : "z.array(z.unknown())";
      fields.push(`  ${q(l.key)}: ${list}${l.doc ? `.describe(${q(l.doc)})` : ""},`);
    }
    if (e.repeatedFor) {
      // The child's row is built from the parent's row, constants and these keys of the item; other keys are ignored.
      const itemFields = e.fields.filter((f) => f.derivation?.from === "item").map((f) => `  ${q((f.derivation as { key: string }).key)}: ${fieldSchema(f)},`);
      out.push(`/** One element of ${e.repeatedFor.entity}.${e.repeatedFor.field}, written as a ${e.name} row. */`);
      out.push(`export const ${e.name}Item = z.object({\n${itemFields.join("\n")}\n});\n`);
    }
    // "entity" names the entity or its prefix, as entityByName reads it.
    const names = [...new Set([e.name, e.prefix])];
    out.push(`/** ${e.doc ?? e.name}: a JSON record (prefix ${e.prefix}). */`);
    const aliasRules = renamed.map((f) => {
      const [now, before] = [`r[${q(f.key)}]`, `r[${q(f.renamedFrom!)}]`];
      const required = !f.nullable && f.default === undefined;
      const present = required ? ` && (${now} ?? ${before}) !== undefined && (${now} ?? ${before}) !== null && (${now} ?? ${before}) !== ""` : "";
      return `\n  .refine((r) => !(${now} !== undefined && ${before} !== undefined)${present})`;
    });
    out.push(
      `export const ${e.name}Record = z.strictObject({\n  entity: z.enum(${JSON.stringify(names)}).optional(),\n${fields.join("\n")}\n})${aliasRules.join("")};\n`,
    );
  }
  out.push(`export const RECORD_SCHEMAS = { ${entities.map((e) => `${e.name}: ${e.name}Record`).join(", ")} } as const;`);
  const body = out.join("\n");
  const helpers = ["hasNul", "INT", "BIGINT", "FLOAT", "DECIMAL", "TIMESTAMP", ...Object.values(JSON_CHECK).map(([h]) => h)];
  const used = helpers.filter((h) => new RegExp(`\\b${h}\\b`).test(body));
  return [header, `import { z } from "zod";`, `import { ${used.join(", ")} } from "${entityDir}/field-checks.ts";`, "", body].join("\n") + "\n";
}
