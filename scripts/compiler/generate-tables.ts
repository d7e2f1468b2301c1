/** Emits src/generated/tables.ts: drizzle-orm table definitions matching the migration DDL. */
import type { EntityModel, FieldModel, FieldType } from "./model.ts";

const DRIZZLE: Record<FieldType, (column: string, f: FieldModel) => string> = {
  string: (c, f) => (f.constraints.maxLength !== undefined ? `varchar(${q(c)}, { length: ${f.constraints.maxLength} })` : `text(${q(c)})`),
  integer: (c) => `integer(${q(c)})`,
  bigint: (c) => `bigint(${q(c)}, { mode: "string" })`,
  float: (c) => `doublePrecision(${q(c)})`,
  decimal: (c, f) =>
    f.constraints.precision !== undefined
      ? `numeric(${q(c)}, { precision: ${f.constraints.precision}, scale: ${f.constraints.scale ?? 0} })`
      : `numeric(${q(c)})`,
  boolean: (c) => `boolean(${q(c)})`,
  date: (c) => `date(${q(c)}, { mode: "string" })`,
  timestamp: (c) => `timestamp(${q(c)}, { withTimezone: true, mode: "string" })`,
  uuid: (c) => `uuid(${q(c)})`,
  json: (c) => `jsonb(${q(c)})`,
  string_list: (c) => `text(${q(c)}).array()`,
};
const q = (s: string) => JSON.stringify(s);
const ident = (s: string) => s.replace(/[^A-Za-z0-9_]/g, "_");

export function generateTables(entities: EntityModel[], header: string): string {
  const used = new Set<string>(["pgTable", "bigint", "integer"]);
  const body: string[] = [];
  for (const e of entities) {
    const cols = [
      `  ${ident(e.idColumn)}: ${e.idType === "bigint" ? `bigint(${q(e.idColumn)}, { mode: "number" })` : `integer(${q(e.idColumn)})`}.primaryKey().generatedAlwaysAsIdentity(),`,
    ];
    for (const f of e.fields) {
      const call = DRIZZLE[f.type](f.column, f);
      used.add(call.slice(0, call.indexOf("(")));
      cols.push(`  ${ident(f.column)}: ${call}${f.nullable ? "" : ".notNull()"},`);
    }
    const indexes: string[] = [];
    if (e.naturalKey.length > 0) {
      used.add("uniqueIndex");
      indexes.push(`uniqueIndex(${q(`${e.table}_natural_key`)}).on(${e.naturalKey.map((k) => `t.${ident(k)}`).join(", ")})`);
    }
    e.indexes.forEach((columns) => {
      used.add("index");
      indexes.push(`index(${q(`${e.table}_${columns.join("_")}_idx`)}).on(${columns.map((k) => `t.${ident(k)}`).join(", ")})`);
    });
    body.push(`/** ${e.doc ?? e.name} */`);
    body.push(
      `export const ${ident(e.table)} = pgTable(${q(e.table)}, {\n${cols.join("\n")}\n}${indexes.length ? `, (t) => [${indexes.join(", ")}]` : ""});\n`,
    );
  }
  return `${header}import { ${[...used].sort().join(", ")} } from "drizzle-orm/pg-core";\n\n${body.join("\n")}`;
}
