/**
 * Test databases: a fresh PostgreSQL database per suite when TEST_DATABASE_URL is set
 * (CI: postgres://postgres@127.0.0.1:5432/test), otherwise undefined, meaning in-memory PGlite.
 */
import pg from "pg";

export async function freshDatabase(name: string): Promise<string | undefined> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) return undefined;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}
