/** What a request that fails its route's documented query, path or header schema is answered. */
import type { Context } from "hono";
import type * as z from "zod";
import { IngestError } from "../errors.ts";

/** The defaultHook of the app: a parameter given twice or outside its values is a 400 that names it. */
export function invalidInput(result: { success: true } | { success: false; error: z.ZodError }, c: Context): void {
  if (result.success) return;
  const repeated = Object.entries(c.req.queries()).find(([, values]) => values.length > 1);
  if (repeated) throw new IngestError("bad_request", `query parameter ${repeated[0]} is given ${repeated[1].length} times; give it once`);
  const issue = result.error.issues[0];
  const name = issue.code === "unrecognized_keys" ? issue.keys.join(", ") : String(issue.path[0]);
  throw new IngestError("bad_request", `query parameter ${name}: ${issue.message}`);
}

/**
 * A route's query checked against its documented schema without the validator middleware, answered
 * as the validator would (its values, then invalidInput): for /ingest/message, which a client calls
 * once a record and whose query is usually empty.
 */
export function checkedQuery<S extends z.ZodType>(schema: S, c: Context): z.output<S> {
  // As hono/validator reads a query: one value as a string, a repeated one as its list.
  const value = c.req.url.includes("?") ? Object.fromEntries(Object.entries(c.req.queries()).map(([k, v]) => [k, v.length === 1 ? v[0] : v])) : {};
  const result = schema.safeParse(value);
  invalidInput(result, c);
  return result.data as z.output<S>;
}
