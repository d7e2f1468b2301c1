/**
 * Test databases: a fresh PostgreSQL database per suite when TEST_DATABASE_URL is set
 * (CI: postgres://postgres@127.0.0.1:5432/test), otherwise undefined, meaning in-memory PGlite.
 */
import pg from "pg";
import { recreateDatabase } from "../../scripts/postgres-admin.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** The system-pgbouncer project's PgBouncer (test/system/pgbouncer-setup.ts); undefined elsewhere. */
    pgbouncerPort?: number;
  }
}

export async function freshDatabase(name: string): Promise<string | undefined> {
  const url = databaseNamed(name);
  if (url) await recreateDatabase(url, process.env.TEST_DATABASE_URL!);
  return url;
}

/** The URL of database `name` beside TEST_DATABASE_URL's, or undefined (PGlite). */
export function databaseNamed(name: string): string | undefined {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) return undefined;
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

/** `url` through the PgBouncer on `port` (same user and database). */
export function throughPgBouncer(url: string, port: number): string {
  const pooled = new URL(url);
  pooled.hostname = "127.0.0.1";
  pooled.port = String(port);
  return pooled.toString();
}

/** PgBouncer's client connections (its admin console, `SHOW CLIENTS`), as the database each uses. */
export async function pgbouncerClients(port: number): Promise<{ database: string }[]> {
  const console = new URL(throughPgBouncer(process.env.TEST_DATABASE_URL!, port));
  console.pathname = "/pgbouncer";
  const admin = new pg.Client({ connectionString: console.toString() });
  await admin.connect();
  try {
    // The console's own connection is a client too: left out.
    return (await admin.query("SHOW CLIENTS")).rows.filter((row: { database: string }) => row.database !== "pgbouncer");
  } finally {
    await admin.end();
  }
}
