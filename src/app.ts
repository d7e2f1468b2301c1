/** The Hono app: every route registered from its OpenAPI definition, and the one place errors become HTTP answers. */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "./app-env.ts";
import { settingsOf } from "./env.ts";
import { DATABASE_UNAVAILABLE, IngestError, logCause, TransientDatabaseError } from "./errors.ts";
import { explained } from "./ingest/service.ts";
import { authorize } from "./middleware/authorize.ts";
import { corsFromSettings } from "./middleware/cors.ts";
import { observe } from "./middleware/observe.ts";
import { rateLimit } from "./middleware/rate-limit.ts";
import { requestId } from "./middleware/request-id.ts";
import { schemaGate } from "./middleware/schema-gate.ts";
import { dashboard } from "./routes/dashboard.ts";
import { health } from "./routes/health.ts";
import { batchRoute, messageRoute, parkedRoute, receiptRoute, redriveRoute, streamRoute } from "./routes/ingest.routes.ts";
import { getReceipt, listParked, postBatch, postMessage, postStream, redrive } from "./routes/ingest.ts";
import { limits } from "./routes/limits.ts";
import { docs, documentInfo, SECURITY_SCHEME } from "./routes/openapi.ts";
import { invalidInput } from "./routes/query.ts";
import { deleteRejectionsRoute, rejectionRoute, rejectionsRoute, replayRoute } from "./routes/rejections.routes.ts";
import { deleteRejectionsRoute as deleteRejections, listRejections, replayRejections, showRejection } from "./routes/rejections.ts";
import { metrics, stats } from "./routes/stats.ts";
import { dashboardRoute, docsRoute, healthRoute, limitsRoute, metricsRoute, openApiRoute, statsRoute } from "./routes/system.routes.ts";

const RETRY_AFTER_SECONDS = "5";

const writer = [authorize("write"), rateLimit()];
const ingest = [...writer, schemaGate()];
const reader = [authorize("read"), rateLimit()];
const quarantine = [authorize("quarantine"), rateLimit()];
const admin = [authorize("admin"), rateLimit()];

/**
 * Handlers answer with plain Responses (streams, stored answers, statuses the service decides):
 * test/worker/contract.test.ts checks real answers against the documented schemas instead.
 */
const served = (response: Response | Promise<Response>) => response as never;

export const app = new OpenAPIHono<AppEnv>({ defaultHook: invalidInput });
app.use(requestId()).use(observe()).use(corsFromSettings());

app
  .openapi({ ...messageRoute, middleware: ingest }, (c) => served(postMessage(c, c.req.valid("query"))))
  .openapi({ ...batchRoute, middleware: ingest }, (c) => served(postBatch(c, c.req.valid("query"), c.req.valid("header")["idempotency-key"])))
  .openapi({ ...streamRoute, middleware: ingest }, (c) => served(postStream(c, c.req.valid("query"))))
  .openapi({ ...receiptRoute, middleware: writer }, (c) => served(getReceipt(c, c.req.valid("param").id)))
  .openapi({ ...parkedRoute, middleware: admin }, (c) => served(listParked(c, c.req.valid("query"))))
  .openapi({ ...redriveRoute, middleware: admin }, (c) => served(redrive(c)))
  .openapi({ ...rejectionsRoute, middleware: quarantine }, (c) => served(listRejections(c, c.req.valid("query"))))
  .openapi({ ...deleteRejectionsRoute, middleware: quarantine }, (c) => served(deleteRejections(c, c.req.valid("query"))))
  .openapi({ ...replayRoute, middleware: [...quarantine, schemaGate()] }, (c) => served(replayRejections(c, c.req.valid("query"))))
  .openapi({ ...rejectionRoute, middleware: quarantine }, (c) => served(showRejection(c, c.req.valid("param").id)))
  .openapi({ ...statsRoute, middleware: reader }, (c) => served(stats(c)))
  .openapi({ ...metricsRoute, middleware: reader }, (c) => served(metrics(c)))
  .openapi(healthRoute, (c) => served(health(c)))
  .openapi(limitsRoute, (c) => served(limits(c)))
  .openapi(openApiRoute, (c) => c.json(openApiDocument() as object))
  .openapi(docsRoute, (c, next) => served(docs(c, next) as Promise<Response>))
  .openapi(dashboardRoute, dashboard);

app.openAPIRegistry.registerComponent("securitySchemes", "bearer", SECURITY_SCHEME);

let document: unknown;

/** The OpenAPI document of the routes above: what is documented is what is served. */
export function openApiDocument(): unknown {
  document ??= app.getOpenAPI31Document(documentInfo);
  return document;
}

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
  const error = await explained(settingsOf(c.env), thrown);
  logCause(c.get("requestId"), c.req.path, thrown);
  if (error instanceof IngestError) {
    if (error.status === 503) c.header("Retry-After", String(error.retryAfterSeconds ?? RETRY_AFTER_SECONDS));
    else if (error.retryAfterSeconds !== undefined) c.header("Retry-After", String(error.retryAfterSeconds));
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
