/** Query parameters, checked with the route's documented schema. */
import type { Context } from "hono";
import type * as z from "zod";
import type { AppEnv } from "../app.ts";
import { IngestError } from "../errors.ts";

/** The query, checked with its documented schema: a parameter given twice or outside its values is a 400. */
export function validQuery<S extends z.ZodType>(c: Context<AppEnv>, schema: S): z.infer<S> {
  const repeated = Object.entries(c.req.queries()).find(([, values]) => values.length > 1);
  if (repeated) throw new IngestError("bad_request", `query parameter ${repeated[0]} is given ${repeated[1].length} times; give it once`);
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = issue.code === "unrecognized_keys" ? issue.keys.join(", ") : String(issue.path[0]);
    throw new IngestError("bad_request", `query parameter ${name}: ${issue.message}`);
  }
  return parsed.data;
}
