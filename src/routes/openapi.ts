/**
 * GET /openapi.json and GET /docs: the document generated from the route definitions' zod schemas,
 * and Swagger UI on it. Swagger UI's script and CSS are Workers Static Assets from swagger-ui-dist
 * (public/assets/swagger-ui-dist/), so the page loads nothing from outside the Worker's origin.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { swaggerUI } from "@hono/swagger-ui";
import type { Context } from "hono";
import { REGISTRY_VERSION } from "../ingest/registry.ts";
import { batchRoute, messageRoute, receiptRoute, streamRoute } from "./ingest.routes.ts";
import { deleteRejectionsRoute, rejectionRoute, rejectionsRoute, replayRoute } from "./rejections.routes.ts";
import { dashboardRoute, docsRoute, healthRoute, limitsRoute, metricsRoute, openApiRoute, statsRoute } from "./system.routes.ts";

export const ROUTES = [messageRoute, batchRoute, streamRoute, receiptRoute, rejectionsRoute, rejectionRoute, replayRoute, deleteRejectionsRoute, healthRoute, limitsRoute, statsRoute, metricsRoute, openApiRoute, docsRoute, dashboardRoute];

let cached: unknown;

export function openApiDocument(): unknown {
  if (cached) return cached;
  const generator = new OpenAPIHono();
  for (const route of ROUTES) generator.openAPIRegistry.registerPath(route);
  generator.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "API key: write:<Entity> or write:* scopes for the ingest routes (and a key's own rejected lines), read for /stats and /metrics, admin for every key's rejected lines",
  });
  cached = generator.getOpenAPI31Document({
    openapi: "3.1.0",
    info: { title: "nomnom-edge", version: REGISTRY_VERSION, description: "Ingest pipe-delimited, JSON and NDJSON messages into Postgres." },
  });
  return cached;
}

export const openApiJson = (c: Context) => c.json(openApiDocument() as object);
/** Where Workers Static Assets serve swagger-ui-dist's files (public/assets/swagger-ui-dist/). */
export const ASSETS_BASE = "/assets";
export const docs = swaggerUI({ url: "/openapi.json", baseUrl: ASSETS_BASE, title: "nomnom-edge API" });
