/**
 * Helpers for tests that run inside workerd (they import cloudflare:test): talk to the Worker, fail its
 * database on purpose, and look at what it wrote. Node tests cannot import this module.
 */
import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { neon, neonConfig } from "@neondatabase/serverless";
import type { Fault } from "../../scripts/local-neon/faults.ts";
import worker from "../../src/index.ts";
import { type FaultOptions, faultAt } from "./faults.ts";

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

/** API keys as id → [key, scopes]. */
export type ApiKeys = Record<string, [key: string, scopes: string[]]>;

/** The API_KEYS secret for these keys. */
export async function apiKeys(keys: ApiKeys): Promise<string> {
  return JSON.stringify(await Promise.all(Object.entries(keys).map(async ([id, [key, scopes]]) => ({ id, sha256: await sha256Hex(key), scopes }))));
}

/** A request to the Worker: `key` is sent as a Bearer token, and `bindings` are set over the test bindings. */
export type CallInit = RequestInit & { key?: string; bindings?: Record<string, unknown> };

/** Calls the Worker directly and waits for its waitUntil work; text bodies default to text/plain. */
export async function call(path: string, init: CallInit = {}): Promise<Response> {
  const { key, bindings, ...request } = init;
  const headers = new Headers(request.headers);
  if (key) headers.set("Authorization", `Bearer ${key}`);
  if (request.body && !headers.has("content-type")) headers.set("Content-Type", "text/plain");
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`http://nomnom.test${path}`, { ...request, headers }), { ...env, ...bindings } as typeof env, ctx);
  const copy = new Response(await res.arrayBuffer(), res);
  await waitOnExecutionContext(ctx);
  return copy;
}

/** `call` with the deployed settings (wrangler.toml: no anonymous access) and these API keys; `init.bindings` go over them. */
export function deployedCall(keys: ApiKeys): (path: string, init?: CallInit) => Promise<Response> {
  return async (path, init = {}) => call(path, { ...init, bindings: { ALLOW_ANONYMOUS: "false", API_KEYS: await apiKeys(keys), ...init.bindings } });
}

/** What an asynchronous ingest's receipt says (GET /ingest/receipts/{id}). */
export type Receipt = {
  status: string;
  inserted: number;
  duplicates: number;
  failed: number;
  parts: number;
  parts_written: number;
  parts_dead: number;
  parts_parked?: number;
  problems: { reason: string; status?: string; dead: boolean }[];
  errors: { line_number: number }[];
};

/** Polls an asynchronous ingest's receipt until it settles (the queue consumer runs on its own schedule) or `timeoutMs` passes. */
export async function settled(id: string, timeoutMs = 40_000): Promise<Receipt> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const receipt = (await (await call(`/ingest/receipts/${id}`)).json()) as Receipt;
    if (receipt.status !== "queued" || Date.now() > deadline) return receipt;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Makes the local Neon endpoint the Worker talks to fail on purpose; "none" ends it. */
export const fault = (name: Fault, options?: FaultOptions) => faultAt(env.NEON_FETCH_ENDPOINT!, name, options);
