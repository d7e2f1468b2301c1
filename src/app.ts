/** The Hono app: every feature's routes registered from their OpenAPI definitions, and the one place errors become HTTP answers. */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./app-env.ts";
import { explained, resolveSettings } from "./compose.ts";
import type { Settings } from "./env.ts";
import { errorAnswer, IngestError, logCause } from "./errors.ts";
import { RECORD_SCHEMAS } from "./generated/schemas.ts";
import { corsFromSettings } from "./middleware/cors.ts";
import { observe } from "./middleware/observe.ts";
import { requestId } from "./middleware/request-id.ts";
import { HEADERS } from "./routes/answers.ts";
import { ingestRoutes } from "./routes/ingest/ingest.index.ts";
import { quarantineRoutes } from "./routes/quarantine/quarantine.index.ts";
import { invalidInput } from "./routes/query.ts";
import { documentOf, SECURITY_SCHEME } from "./routes/system/openapi.ts";
import { systemRoutes } from "./routes/system/system.index.ts";

export const app = new OpenAPIHono<AppEnv>({ defaultHook: invalidInput });
app.use(requestId()).use(observe()).use(resolveSettings()).use(corsFromSettings());

/** The OpenAPI document of every route registered below, served from `origin`: what is documented is what is served. */
export const openApiDocument = documentOf(app);

ingestRoutes(app);
quarantineRoutes(app);
systemRoutes(app, openApiDocument);

app.openAPIRegistry.registerComponent("securitySchemes", "bearer", SECURITY_SCHEME);
for (const [name, header] of Object.entries(HEADERS)) app.openAPIRegistry.registerComponent("headers", name, header);
// One named schema per entity, from the generated registry: the record bodies refer to them.
for (const [name, schema] of Object.entries(RECORD_SCHEMAS)) app.openAPIRegistry.register(name, schema);

app.notFound((c) => c.json(errorAnswer(new IngestError("not_found", `no route ${c.req.method} ${c.req.path}`), c.get("requestId")).body, 404));

app.onError(async (thrown, c) => {
  // Undefined when the settings themselves did not parse (resolveSettings threw): nothing to explain with.
  const settings: Settings | undefined = c.get("settings");
  const error = settings ? await explained(settings, thrown) : thrown;
  logCause(c.get("requestId"), c.req.path, thrown);
  const answer = errorAnswer(error, c.get("requestId"));
  if (answer.retryAfterSeconds !== undefined) c.header("Retry-After", String(answer.retryAfterSeconds));
  if (answer.httpStatus === 401) c.header("WWW-Authenticate", 'Bearer realm="nomnom-edge"');
  if (answer.body.code === "internal_error") {
    console.error(
      JSON.stringify({
        level: "error",
        request_id: c.get("requestId"),
        path: c.req.path,
        error: String(error),
        stack: error instanceof Error ? error.stack : undefined,
      }),
    );
  }
  return c.json(answer.body, answer.httpStatus);
});
