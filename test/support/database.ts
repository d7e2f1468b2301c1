/**
 * Test databases: a fresh PostgreSQL database per suite when TEST_DATABASE_URL is set
 * (CI: postgres://postgres@127.0.0.1:5432/test), otherwise undefined, meaning in-memory PGlite.
 */
import { recreateDatabase } from "../../scripts/postgres-admin.ts";

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
