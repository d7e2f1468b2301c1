/** Emits the migration DDL: one table per entity, a unique index on its natural key, checks for constraints. */
import { sqlId, sqlType } from "./generate-registry.ts";
import type { EntityModel, FieldModel } from "./model.ts";

/** Statements are separated by this marker so the migrator can send them one at a time (Neon runs one per query). */
export const STATEMENT_BREAK = "--> statement-breakpoint";

function checks(f: FieldModel): string[] {
  const c = f.constraints;
  const col = sqlId(f.column);
  const out: string[] = [];
  if (c.minLength !== undefined) out.push(`char_length(${col}) >= ${c.minLength}`);
  if (c.minimum !== undefined) out.push(`${col} >= ${c.minimum}`);
  if (c.maximum !== undefined) out.push(`${col} <= ${c.maximum}`);
  if (c.enum !== undefined) out.push(`${col} IN (${c.enum.map((v) => `'${v.replace(/'/g, "''")}'`).join(", ")})`);
  return out;
}

export function generateSql(entities: EntityModel[], header: string): string {
  const statements: string[] = [];
  for (const e of entities) {
    const lines = [`  ${sqlId(e.idColumn)} ${e.idType} GENERATED ALWAYS AS IDENTITY PRIMARY KEY`];
    for (const f of e.fields) lines.push(`  ${sqlId(f.column)} ${sqlType(f)}${f.nullable ? "" : " NOT NULL"}`);
    for (const f of e.fields) for (const check of checks(f)) lines.push(`  CHECK (${check})`);
    statements.push(`CREATE TABLE IF NOT EXISTS ${sqlId(e.table)} (\n${lines.join(",\n")}\n);`);
    if (e.naturalKey.length > 0) {
      statements.push(`CREATE UNIQUE INDEX IF NOT EXISTS ${sqlId(`${e.table}_natural_key`)} ON ${sqlId(e.table)} (${e.naturalKey.map(sqlId).join(", ")});`);
    }
    for (const columns of e.indexes) {
      statements.push(`CREATE INDEX IF NOT EXISTS ${sqlId(`${e.table}_${columns.join("_")}_idx`)} ON ${sqlId(e.table)} (${columns.map(sqlId).join(", ")});`);
    }
  }
  return `${header}${statements.join(`\n${STATEMENT_BREAK}\n`)}\n`;
}
