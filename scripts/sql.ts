/**
 * npm run sql -- "select …": runs one statement against the database `npm run dev` uses (PGlite in
 * .data/pglite, or DATABASE_URL), also while `npm run dev` runs, and prints the rows as a table.
 */
import { NoDevDatabase, openDevDatabase, type QueryResult } from "./dev-database.ts";

const statement = process.argv.slice(2).join(" ").trim();
if (!statement) {
  console.error('Usage: npm run sql -- "select * from nomnom_migrations"  (the database npm run dev uses: PGlite in .data/pglite, or DATABASE_URL)');
  process.exit(64);
}

/** psql's aligned format: a header, a rule, the rows, and the count. NULL is shown empty, as psql does. */
function formatTable(result: QueryResult): string {
  if (result.columns.length === 0) return `${result.command}${result.rowCount === null ? "" : ` ${result.rowCount}`}`;
  const cells = result.rows.map((row) => row.map((v) => (v === null ? "" : v.replace(/\n/g, "\\n"))));
  const widths = result.columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (values: string[]) => ` ${values.map((v, i) => v.padEnd(widths[i])).join(" | ")}`.trimEnd();
  const rule = widths.map((w) => "-".repeat(w + 2)).join("+");
  const count = `(${result.rows.length} ${result.rows.length === 1 ? "row" : "rows"})`;
  return [line(result.columns), rule, ...cells.map(line), count].join("\n");
}

try {
  const db = await openDevDatabase();
  try {
    console.log(formatTable(await db.query(statement)));
  } finally {
    await db.close();
  }
} catch (error) {
  if (error instanceof NoDevDatabase) {
    console.error(`npm run sql: ${error.message}`);
    process.exit(1);
  }
  const code = (error as { code?: string }).code;
  console.error(`npm run sql: ${error instanceof Error ? error.message : String(error)}${code ? ` (SQLSTATE ${code})` : ""}`);
  process.exit(1);
}
