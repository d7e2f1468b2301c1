/** The operational routes' contract: health, stats, metrics, docs and dashboard. */
import { createRoute } from "@hono/zod-openapi";
import { ErrorBody, HealthResult, LimitsResult, StatsResult } from "./schemas.ts";

const text = (type: string, description: string) => ({ description, content: { [type]: { schema: { type: "string" as const } } } });
const guarded = {
  401: { description: "Missing or invalid API key", content: { "application/json": { schema: ErrorBody } } },
  403: { description: "The key has no read scope", content: { "application/json": { schema: ErrorBody } } },
  429: { description: "Rate limit exceeded; retry after Retry-After seconds", content: { "application/json": { schema: ErrorBody } } },
};

export const healthRoute = createRoute({
  method: "get",
  path: "/health",
  summary: "Whether the database is reachable and at this Worker's schema; the registry version",
  responses: {
    200: { description: "Healthy", content: { "application/json": { schema: HealthResult } } },
    503: {
      description: "The database is unreachable, refuses this deployment (misconfigured), or is behind or ahead of this Worker's schema",
      content: { "application/json": { schema: HealthResult } },
    },
    429: { description: "Rate limit exceeded for this address" },
  },
});

export const statsRoute = createRoute({
  method: "get",
  path: "/stats",
  security: [{ bearer: [] }],
  summary: "Counters merged over the Stats Durable Object shards",
  responses: { 200: { description: "Stats", content: { "application/json": { schema: StatsResult } } }, ...guarded },
});

export const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  security: [{ bearer: [] }],
  summary: "Prometheus text exposition",
  responses: { 200: text("text/plain", "Metrics (text format 0.0.4)"), ...guarded },
});

export const openApiRoute = createRoute({
  method: "get",
  path: "/openapi.json",
  summary: "This document",
  responses: { 200: text("application/json", "OpenAPI 3.1 document") },
});

export const docsRoute = createRoute({ method: "get", path: "/docs", summary: "Interactive API docs", responses: { 200: text("text/html", "Swagger UI") } });
export const dashboardRoute = createRoute({
  method: "get",
  path: "/dashboard",
  summary: "Live dashboard",
  responses: { 200: text("text/html", "The dashboard page") },
});

export const limitsRoute = createRoute({
  method: "get",
  path: "/limits",
  summary: "The limits in force: body, line and batch sizes, rate limit",
  responses: { 200: { description: "Limits", content: { "application/json": { schema: LimitsResult } } } },
});
