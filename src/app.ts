/** The Hono app: routes wired to handlers, and the one place errors become HTTP answers. */
import { type Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Bindings } from "./env.ts";
import { DATABASE_UNAVAILABLE, IngestError, logCause, SchemaMismatch, TransientDatabaseError } from "./errors.ts";
import { health } from "./routes/health.ts";
import { ingestBatch, ingestMessage, ingestReceipt } from "./routes/ingest.ts";
import { ingestStream } from "./routes/stream.ts";
import { metrics, stats } from "./routes/stats.ts";
import { observe, type RequestMeter } from "./middleware/observe.ts";
import { dashboard } from "./routes/dashboard.ts";
import { batchRoute, messageRoute, receiptRoute, streamRoute } from "./routes/ingest.routes.ts";
import { docs, openApiJson } from "./routes/openapi.ts";
import { dashboardRoute, docsRoute, healthRoute, limitsRoute, metricsRoute, openApiRoute, statsRoute } from "./routes/system.routes.ts";
import { requestId } from "./middleware/request-id.ts";
import type { Principal } from "./auth/api-keys.ts";
import { authorize } from "./middleware/authorize.ts";
import { corsFromSettings } from "./middleware/cors.ts";
import { rateLimit } from "./middleware/rate-limit.ts";
import { limits } from "./routes/limits.ts";
import { deleteRejectionsRoute as deleteRejections, listRejectionsRoute, replayRejections, showRejection } from "./routes/rejections.ts";
import { deleteRejectionsRoute, rejectionRoute, rejectionsRoute, replayRoute } from "./routes/rejections.routes.ts";
import { schemaGate } from "./middleware/schema-gate.ts";
import { database } from "./db/neon.ts";
import { explainMismatch } from "./db/schema-level.ts";
import { settingsOf } from "./env.ts";

export type AppEnv = { Bindings: Bindings; Variables: { meter: RequestMeter; requestId: string; principal: Principal } };

const RETRY_AFTER_SECONDS = "5";

const writer = [authorize("write"), rateLimit()] as const;
const ingest = [...writer, schemaGate()] as const;
/** OpenAPI writes path parameters as {id}, Hono as :id. */
const honoPath = (path: string) => path.replace(/\{(\w+)\}/g, ":$1");
const reader = [authorize("read"), rateLimit()] as const;
const quarantine = [authorize("quarantine"), rateLimit()] as const;

// Paths come from the route definitions the OpenAPI document is generated from.
export const app = new Hono<AppEnv>()
  .use(requestId())
  .use(observe())
  .use(corsFromSettings())
  .post(messageRoute.path, ...ingest, ingestMessage)
  .post(batchRoute.path, ...ingest, ingestBatch)
  .post(streamRoute.path, ...ingest, ingestStream)
  .get(honoPath(receiptRoute.path), ...writer, ingestReceipt)
  .get(rejectionsRoute.path, ...quarantine, listRejectionsRoute)
  .delete(deleteRejectionsRoute.path, ...quarantine, deleteRejections)
  .post(replayRoute.path, ...quarantine, schemaGate(), replayRejections)
  .get(honoPath(rejectionRoute.path), ...quarantine, showRejection)
  .get(statsRoute.path, ...reader, stats)
  .get(metricsRoute.path, ...reader, metrics)
  .get(healthRoute.path, health)
  .get(limitsRoute.path, limits)
  .get(openApiRoute.path, openApiJson)
  .get(docsRoute.path, docs)
  .get(dashboardRoute.path, dashboard);

/** The service's one error shape: a stable code for programs, a message for people, the request id for the logs. */
const errorBody = (c: Context<AppEnv>, code: string, message: string, details: Record<string, unknown> = {}) => ({
  status: "error",
  code,
  message,
  request_id: c.get("requestId"),
  ...details,
});

app.notFound((c) => c.json(errorBody(c, "not_found", `no route ${c.req.method} ${c.req.path}`), 404));

app.onError(async (thrown, c) => {
  const error = thrown instanceof SchemaMismatch ? await explainMismatch(database(settingsOf(c.env)), thrown) : thrown;
  logCause(c.get("requestId"), c.req.path, thrown);
  if (error instanceof IngestError) {
    if (error.status === 503) c.header("Retry-After", String(error.retryAfterSeconds ?? RETRY_AFTER_SECONDS));
    if (error.status === 401) c.header("WWW-Authenticate", 'Bearer realm="nomnom-edge"');
    return c.json(errorBody(c, error.code, error.message, error.details), error.status as ContentfulStatusCode);
  }
  if (error instanceof TransientDatabaseError) {
    c.header("Retry-After", RETRY_AFTER_SECONDS);
    return c.json(errorBody(c, "database_unavailable", DATABASE_UNAVAILABLE), 503);
  }
  console.error(JSON.stringify({ level: "error", request_id: c.get("requestId"), path: c.req.path, error: String(error), stack: (error as Error).stack }));
  return c.json(errorBody(c, "internal_error", "internal error"), 500);
});
