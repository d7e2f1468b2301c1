/**
 * The baseline: the same rows loaded by PostgreSQL's own COPY (psql's \copy, text format), one
 * table after another, into the same tables with the same natural-key indexes. The files are
 * written before the clock starts; the time is the four psql runs.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ENTITIES, entityByPrefix } from "../../src/registry.ts";
import type { Driven } from "./report.ts";

export interface CopyFile {
  table: string;
  columns: readonly string[];
  file: string;
}

/**
 * One file per table: each line without its prefix. tpchLines never writes a backslash nor leaves
 * out trailing fields, so that is already a COPY text row, and an empty field is NULL (NULL '').
 */
export function writeCopyFiles(dir: string, lines: readonly string[]): CopyFile[] {
  const rows = new Map(ENTITIES.map((e) => [e.prefix, [] as string[]]));
  for (const line of lines) {
    const bar = line.indexOf("|");
    rows.get(line.slice(0, bar))!.push(line.slice(bar + 1));
  }
  return [...rows].map(([prefix, tableRows]) => {
    const entity = entityByPrefix(prefix)!;
    const file = join(dir, `${entity.table}.copy`);
    writeFileSync(file, tableRows.length > 0 ? tableRows.join("\n") + "\n" : "");
    return { table: entity.table, columns: entity.columns, file };
  });
}

function psql(databaseUrl: string, command: string): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn("psql", [databaseUrl, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", command], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", fail);
    child.on("exit", (code) => (code === 0 ? done() : fail(new Error(`psql ${command} failed (${code}): ${stderr.trim()}`))));
  });
}

export async function copyBaseline(databaseUrl: string, files: readonly CopyFile[]): Promise<Driven> {
  const perTable: string[] = [];
  let seconds = 0;
  for (const { table, columns, file } of files) {
    const started = performance.now();
    await psql(databaseUrl, `\\copy "${table}"(${columns.map((c) => `"${c}"`).join(", ")}) FROM '${file}' WITH (FORMAT text, DELIMITER '|', NULL '')`);
    const took = (performance.now() - started) / 1000;
    seconds += took;
    perTable.push(`${table} ${took.toFixed(2)} s`);
  }
  return { seconds, notes: `psql \\copy, tables in turn: ${perTable.join(", ")}` };
}
