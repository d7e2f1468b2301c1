/** GET /limits: the limits in force, so clients can size their requests. */
import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../app-env.ts";
import { rowsPerStatement } from "../../compose.ts";
import type { limitsRoute } from "./system.routes.ts";

export const limits: RouteHandler<typeof limitsRoute, AppEnv> = (c) => {
  const s = c.get("settings");
  return c.json(
    {
      max_body_bytes: s.MAX_BODY_BYTES,
      max_line_bytes: s.MAX_LINE_BYTES,
      max_batch_items: s.MAX_BATCH_ITEMS,
      max_errors_reported: s.MAX_ERRORS_REPORTED,
      rows_per_statement: rowsPerStatement(s),
      rate_limit: { requests: s.RATE_LIMIT, period_seconds: s.RATE_LIMIT_PERIOD, per: "API key (client address when anonymous)" },
    },
    200,
  );
};
