/**
 * Test databases: a fresh PostgreSQL database per suite when TEST_DATABASE_URL is set
 * (CI: postgres://postgres@127.0.0.1:5432/test), otherwise undefined, meaning in-memory PGlite.
 */
import { recreateDatabase } from "../../scripts/postgres-admin.ts";

export async function freshDatabase(name: string): Promise<string | undefined> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) return undefined;
  const url = new URL(base);
  url.pathname = `/${name}`;
  await recreateDatabase(url.toString(), base);
  return url.toString();
}
