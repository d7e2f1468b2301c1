/**
 * The seam between the service's answers (plain records) and the routes' declared bodies: each
 * answer is checked against the schema its route documents, so the handler's type follows from
 * the check instead of a cast. The service can return the z.infer types itself once it imports them.
 */
import type { z } from "@hono/zod-openapi";

function matches<S extends z.ZodType>(schema: S, body: unknown): body is z.output<S> {
  return schema.safeParse(body).success;
}

/** `body`, typed by `schema`; a body outside its documented schema is a bug, answered as one (500). */
export function documented<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (!matches(schema, body)) throw new Error(`an answer does not match its documented schema ${schema.description ?? ""}`.trim());
  return body;
}
