/** The system feature's routes (health, limits, stats, metrics, the document, docs, dashboard), registered with their guards. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../app-env.ts";
import { guards } from "../guards.ts";
import { dashboard } from "./dashboard.ts";
import { health } from "./health.ts";
import { limits } from "./limits.ts";
import { docsPage } from "./openapi.ts";
import { metrics, stats } from "./stats.ts";
import { dashboardRoute, docsRoute, healthRoute, limitsRoute, metricsRoute, openApiRoute, statsRoute } from "./system.routes.ts";

/** `document` is the app's own OpenAPI document (app.ts builds it from every feature's routes). */
export function systemRoutes(app: OpenAPIHono<AppEnv>, document: (origin: string) => object) {
  return app
    .openapi({ ...statsRoute, middleware: guards.read }, stats)
    .openapi({ ...metricsRoute, middleware: guards.read }, metrics)
    .openapi(healthRoute, health)
    .openapi({ ...limitsRoute, middleware: guards.keyless }, limits)
    .openapi({ ...openApiRoute, middleware: guards.keyless }, (c) => c.json(document(new URL(c.req.url).origin)))
    .openapi({ ...docsRoute, middleware: guards.keyless }, docsPage)
    .openapi({ ...dashboardRoute, middleware: guards.keyless }, dashboard);
}
