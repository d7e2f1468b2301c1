/** Helpers for tests that run inside workerd: talk to the Worker, and look at the database it wrote. */
import { env, SELF } from "cloudflare:test";
import { neon, neonConfig } from "@neondatabase/serverless";

neonConfig.fetchEndpoint = env.NEON_FETCH_ENDPOINT!;
export const sql = neon(env.DATABASE_URL);

export async function resetDatabase(): Promise<void> {
  await sql.query("TRUNCATE orders, order_line_items, customers, products RESTART IDENTITY");
}

export function post(path: string, body: BodyInit, contentType?: string, headers: Record<string, string> = {}): Promise<Response> {
  return SELF.fetch(`http://nomnom.test${path}`, {
    method: "POST",
    body,
    headers: { ...(contentType ? { "Content-Type": contentType } : {}), ...headers },
  });
}

export async function count(table: string): Promise<number> {
  const [row] = await sql.query(`SELECT count(*)::int AS n FROM ${table}`);
  return row.n as number;
}
