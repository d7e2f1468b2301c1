/**
 * GET /docs: Swagger UI on /openapi.json. Its script and CSS are Workers Static Assets from
 * swagger-ui-dist (public/assets/swagger-ui-dist/), so the page loads nothing from outside the Worker's origin.
 */
import { swaggerUI } from "@hono/swagger-ui";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import packageJson from "../../../package.json" with { type: "json" };
import type { AppEnv } from "../../app-env.ts";
import { REGISTRY_VERSION } from "../../registry.ts";

export const SECURITY_SCHEME = {
  type: "http" as const,
  scheme: "bearer",
  description:
    "API key: write:<Entity> or write:* scopes for the ingest routes (and a key's own rejected lines), read for /stats and /metrics, admin for every key's rejected lines",
};

/** The service's version, as package.json has it: what Swagger UI's badge shows. */
export const SERVICE_VERSION: string = packageJson.version;

/** The document's server when it is not read from a deployment (npm run lint:api): `npm run deploy`'s workers.dev address. */
export const DEPLOYED_SERVER = {
  url: "https://nomnom-edge.{subdomain}.workers.dev",
  description: "npm run deploy's address (served from a deployment, the document names its own origin)",
  variables: { subdomain: { default: "your-subdomain", description: "Your Cloudflare account's workers.dev subdomain" } },
};

export const documentInfo = {
  openapi: "3.1.0",
  info: {
    title: "nomnom-edge",
    version: SERVICE_VERSION,
    description: `Ingest pipe-delimited, JSON and NDJSON messages into Postgres. Entity registry ${REGISTRY_VERSION} (GET /health).`,
    license: { name: "UNLICENSED: private to its deployer", identifier: "LicenseRef-Proprietary" },
    "x-registry-version": REGISTRY_VERSION,
  },
  tags: [
    { name: "ingest", description: "Write messages: one, a batch, or a stream" },
    { name: "quarantine", description: "Rejected lines: list, show, replay, delete (docs/quarantine.md)" },
    { name: "system", description: "Health, limits, stats, metrics, this document and the pages" },
  ],
};

/** Where Workers Static Assets serve swagger-ui-dist's files (public/assets/swagger-ui-dist/). */
export const ASSETS_BASE = "/assets";
const docs = swaggerUI<AppEnv>({ url: "/openapi.json", baseUrl: ASSETS_BASE, title: "nomnom-edge API" });

/** GET /docs: Swagger UI's page (its middleware always answers; it never calls next). */
export async function docsPage(c: Context<AppEnv>): Promise<Response> {
  const page = await docs(c, async () => {});
  if (!page) throw new Error("Swagger UI answered nothing");
  return page;
}

type Document = ReturnType<OpenAPIHono["getOpenAPI31Document"]>;
const METHODS = ["get", "put", "post", "delete", "patch"] as const;

/** Every answer carries X-Request-Id (middleware/request-id.ts): documented on each response. */
export function withRequestIds(document: Document): Document {
  for (const item of Object.values(document.paths ?? {})) {
    for (const method of METHODS) {
      for (const response of Object.values(item[method]?.responses ?? {})) {
        if ("$ref" in response) continue;
        response.headers = { "X-Request-Id": { $ref: "#/components/headers/X-Request-Id" }, ...response.headers };
      }
    }
  }
  return document;
}

/** The OpenAPI document of `app`'s routes, served from `origin`: what is documented is what is served (built once, on first use). */
export function documentOf(app: OpenAPIHono<AppEnv>): (origin?: string) => object {
  let document: Document | undefined;
  return (origin) => {
    document ??= withRequestIds(app.getOpenAPI31Document(documentInfo));
    return { ...document, servers: [origin ? { url: origin, description: "This deployment" } : DEPLOYED_SERVER] };
  };
}
