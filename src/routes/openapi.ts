/**
 * GET /docs: Swagger UI on /openapi.json. Its script and CSS are Workers Static Assets from
 * swagger-ui-dist (public/assets/swagger-ui-dist/), so the page loads nothing from outside the Worker's origin.
 */
import { swaggerUI } from "@hono/swagger-ui";
import type { AppEnv } from "../app-env.ts";
import { REGISTRY_VERSION } from "../ingest/registry.ts";

export const SECURITY_SCHEME = {
  type: "http" as const,
  scheme: "bearer",
  description:
    "API key: write:<Entity> or write:* scopes for the ingest routes (and a key's own rejected lines), read for /stats and /metrics, admin for every key's rejected lines",
};

export const documentInfo = {
  openapi: "3.1.0",
  info: { title: "nomnom-edge", version: REGISTRY_VERSION, description: "Ingest pipe-delimited, JSON and NDJSON messages into Postgres." },
};

/** Where Workers Static Assets serve swagger-ui-dist's files (public/assets/swagger-ui-dist/). */
export const ASSETS_BASE = "/assets";
export const docs = swaggerUI<AppEnv>({ url: "/openapi.json", baseUrl: ASSETS_BASE, title: "nomnom-edge API" });
