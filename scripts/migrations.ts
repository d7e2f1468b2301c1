/** Reads the generated migration files as single statements (Neon's HTTP API runs one statement per query). */
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { STATEMENT_BREAK } from "./compiler/generate-sql.ts";

export const MIGRATIONS_DIR = resolve(import.meta.dirname, "..", "migrations");

export function migrationStatements(dir = MIGRATIONS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), "utf8").split(STATEMENT_BREAK))
    .map((s) => s.replace(/^--.*$/gm, "").trim())
    .filter((s) => s.length > 0);
}
