/** Helpers for tests that run inside workerd: talk to the Worker, and look at the database it wrote. */
import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import worker from "../../src/index.ts";
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

export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The API_KEYS secret for keys given as id → [key, scopes]. */
export async function apiKeys(keys: Record<string, [key: string, scopes: string[]]>): Promise<string> {
  return JSON.stringify(await Promise.all(Object.entries(keys).map(async ([id, [key, scopes]]) => ({ id, sha256: await sha256Hex(key), scopes }))));
}

/**
 * Calls the Worker directly with the given bindings (default: the test bindings), with an API key when
 * `key` is given, and waits for its waitUntil work; text bodies default to text/plain.
 */
export async function callWorker(path: string, init: RequestInit & { key?: string } = {}, bindings: object = env): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.key) headers.set("Authorization", `Bearer ${init.key}`);
  if (init.body && !headers.has("content-type")) headers.set("Content-Type", "text/plain");
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`http://nomnom.test${path}`, { ...init, headers }), bindings as typeof env, ctx);
  const copy = new Response(await res.arrayBuffer(), res);
  await waitOnExecutionContext(ctx);
  return copy;
}
