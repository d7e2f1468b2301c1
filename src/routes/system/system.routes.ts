/** The operational routes' contract: health, limits, stats, metrics, this document, docs and dashboard. */
import { createRoute } from "@hono/zod-openapi";
import { failure } from "../answers.ts";
import { HealthResult, LimitsResult, StatsResult } from "../schemas.ts";

const text = (type: string, description: string) => ({ description, content: { [type]: { schema: { type: "string" as const } } } });
const system = { tags: ["system"] };
/** Keyless routes: no API key asked, rate-limited per client address where they touch anything shared. */
const open = { ...system, security: [] };
const guarded = {
  401: failure("Missing or invalid API key"),
  403: failure("The key has no read scope"),
  429: failure("Rate limit exceeded; retry after Retry-After seconds", "Retry-After"),
};
/** Keyless routes are rate-limited per client address (app.ts). */
const limited = { 429: failure("Rate limit exceeded for this address; retry after Retry-After seconds", "Retry-After") };

export const healthRoute = createRoute({
  method: "get",
  path: "/health",
  operationId: "getHealth",
  ...open,
  summary: "Whether the database is reachable and at this Worker's schema; the registry version",
  responses: {
    200: { description: "Healthy", content: { "application/json": { schema: HealthResult } } },
    503: {
      description: "The database is unreachable, refuses this deployment (misconfigured), or is behind or ahead of this Worker's schema",
      content: { "application/json": { schema: HealthResult } },
    },
    ...limited,
  },
});

export const statsRoute = createRoute({
  method: "get",
  path: "/stats",
  operationId: "getStats",
  ...system,
  security: [{ bearer: [] }],
  summary: "Counters merged over the Stats Durable Object shards",
  responses: { 200: { description: "Stats", content: { "application/json": { schema: StatsResult } } }, ...guarded },
});

export const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  operationId: "getMetrics",
  ...system,
  security: [{ bearer: [] }],
  summary: "Prometheus text exposition",
  responses: { 200: text("text/plain", "Metrics (text format 0.0.4)"), ...guarded },
});

export const openApiRoute = createRoute({
  method: "get",
  path: "/openapi.json",
  operationId: "getOpenApi",
  ...open,
  summary: "This document",
  responses: { 200: text("application/json", "OpenAPI 3.1 document"), ...limited },
});

export const docsRoute = createRoute({
  method: "get",
  path: "/docs",
  operationId: "getDocs",
  ...open,
  summary: "Interactive API docs",
  responses: { 200: text("text/html", "Swagger UI"), ...limited },
});

export const dashboardRoute = createRoute({
  method: "get",
  path: "/dashboard",
  operationId: "getDashboard",
  ...open,
  summary: "Live dashboard",
  responses: { 200: text("text/html", "The dashboard page"), ...limited },
});

export const limitsRoute = createRoute({
  method: "get",
  path: "/limits",
  operationId: "getLimits",
  ...open,
  summary: "The limits in force: body, line and batch sizes, rate limit",
  responses: { 200: { description: "Limits", content: { "application/json": { schema: LimitsResult } } }, ...limited },
});
