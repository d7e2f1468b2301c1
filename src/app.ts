/** The Hono app: every route registered from its OpenAPI definition, and the one place errors become HTTP answers. */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "./app-env.ts";
import { explained } from "./compose.ts";
import { settingsOf } from "./env.ts";
import { errorAnswer, IngestError, logCause } from "./errors.ts";
import { RECORD_SCHEMAS } from "./generated/schemas.ts";
import { authorize } from "./middleware/authorize.ts";
import { corsFromSettings } from "./middleware/cors.ts";
import { observe } from "./middleware/observe.ts";
import { rateLimit } from "./middleware/rate-limit.ts";
import { requestId } from "./middleware/request-id.ts";
import { schemaGate } from "./middleware/schema-gate.ts";
import { HEADERS } from "./routes/answers.ts";
import { dashboard } from "./routes/dashboard.ts";
import { health } from "./routes/health.ts";
import { batchRoute, messageRoute, parkedRoute, receiptRoute, redriveRoute, streamRoute } from "./routes/ingest.routes.ts";
import { getReceipt, listParked, postBatch, postMessage, postStream, redrive } from "./routes/ingest.ts";
import { limits } from "./routes/limits.ts";
import { DEPLOYED_SERVER, docs, documentInfo, SECURITY_SCHEME, withRequestIds } from "./routes/openapi.ts";
import { invalidInput } from "./routes/query.ts";
import { deleteRejectionsRoute, rejectionRoute, rejectionsRoute, replayRoute } from "./routes/rejections.routes.ts";
import { deleteRejectionsRoute as deleteRejections, listRejections, replayRejections, showRejection } from "./routes/rejections.ts";
import { metrics, stats } from "./routes/stats.ts";
import { dashboardRoute, docsRoute, healthRoute, limitsRoute, metricsRoute, openApiRoute, statsRoute } from "./routes/system.routes.ts";

const writer = [authorize("write"), rateLimit()];
const ingest = [...writer, schemaGate()];
const reader = [authorize("read"), rateLimit()];
const quarantine = [authorize("quarantine"), rateLimit()];
const admin = [authorize("admin"), rateLimit()];
/** No key asked: rate-limited per client address. */
const keyless = [rateLimit()];

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
  .openapi({ ...limitsRoute, middleware: keyless }, (c) => served(limits(c)))
  .openapi({ ...openApiRoute, middleware: keyless }, (c) => c.json(openApiDocument(new URL(c.req.url).origin) as object))
  .openapi({ ...docsRoute, middleware: keyless }, (c, next) => served(docs(c, next) as Promise<Response>))
  .openapi({ ...dashboardRoute, middleware: keyless }, dashboard);

app.openAPIRegistry.registerComponent("securitySchemes", "bearer", SECURITY_SCHEME);
for (const [name, header] of Object.entries(HEADERS)) app.openAPIRegistry.registerComponent("headers", name, header);
// One named schema per entity, from the generated registry: the record bodies refer to them.
for (const [name, schema] of Object.entries(RECORD_SCHEMAS)) app.openAPIRegistry.register(name, schema);

let document: object | undefined;

/** The OpenAPI document of the routes above, served from `origin`: what is documented is what is served. */
export function openApiDocument(origin?: string): unknown {
  document ??= withRequestIds(app.getOpenAPI31Document(documentInfo));
  return { ...document, servers: [origin ? { url: origin, description: "This deployment" } : DEPLOYED_SERVER] };
}

app.notFound((c) => c.json(errorAnswer(new IngestError("not_found", `no route ${c.req.method} ${c.req.path}`), c.get("requestId")).body, 404));

app.onError(async (thrown, c) => {
  const error = await explained(settingsOf(c.env), thrown);
  logCause(c.get("requestId"), c.req.path, thrown);
  const answer = errorAnswer(error, c.get("requestId"));
  if (answer.retryAfterSeconds !== undefined) c.header("Retry-After", String(answer.retryAfterSeconds));
  if (answer.httpStatus === 401) c.header("WWW-Authenticate", 'Bearer realm="nomnom-edge"');
  if (answer.body.code === "internal_error") {
    console.error(JSON.stringify({ level: "error", request_id: c.get("requestId"), path: c.req.path, error: String(error), stack: (error as Error).stack }));
  }
  return c.json(answer.body, answer.httpStatus as ContentfulStatusCode);
});
