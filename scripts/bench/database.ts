/** The benchmark's PostgreSQL: recreated empty, emptied again before each path, counted after it. */
import pg from "pg";
import { ENTITIES } from "../../src/registry.ts";
import { recreateDatabase as recreateAnyDatabase } from "../postgres-admin.ts";

const TABLES = ENTITIES.map((e) => `"${e.table}"`).join(", ");

/** Drops and recreates the database named in `url` (through the server's `postgres` database). */
export async function recreateDatabase(url: string): Promise<void> {
  const adminUrl = new URL(url);
  adminUrl.pathname = "/postgres";
  await recreateAnyDatabase(url, adminUrl.toString());
}

export interface BenchDatabase {
  /** TRUNCATE … RESTART IDENTITY of every entity table; the natural-key indexes stay. */
  empty(): Promise<void>;
  rowsByTable(): Promise<Map<string, number>>;
  version(): Promise<string>;
  close(): Promise<void>;
}

export async function openBenchDatabase(url: string): Promise<BenchDatabase> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    async empty() {
      await client.query(`TRUNCATE ${TABLES} RESTART IDENTITY`);
      // Each path starts with no dirty pages left by the one before it to be written during its run.
      // CHECKPOINT needs superuser (or pg_checkpoint): without it, paths just start less evenly.
      await client.query("CHECKPOINT").catch(() => {});
    },
    async rowsByTable() {
      const counts = new Map<string, number>();
      for (const { table } of ENTITIES) {
        const result = await client.query<{ n: string }>(`SELECT count(*) AS n FROM "${table}"`);
        counts.set(table, Number(result.rows[0].n));
      }
      return counts;
    },
    async version() {
      const result = await client.query<{ server_version: string }>("SHOW server_version");
      return result.rows[0].server_version;
    },
    close: () => client.end(),
  };
}
