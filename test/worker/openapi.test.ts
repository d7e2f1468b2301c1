/** The OpenAPI document against the routes the Worker really serves, and /docs' page. */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app.ts";

describe("GET /openapi.json", () => {
  it("documents exactly the routes the app serves", async () => {
    const doc = await (await SELF.fetch("http://nomnom.test/openapi.json")).json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>();
    expect(doc.openapi).toBe("3.1.0");
    // One entry per handler in a route's chain: deduplicated.
    const served = [...new Set(app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method.toLowerCase()} ${r.path}`))].sort();
    // OpenAPI writes {id} where Hono writes :id.
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method} ${path.replace(/\{(\w+)\}/g, ":$1")}`))
      .sort();
    expect(documented).toEqual(served);
    expect(served).toContain("post /ingest/stream");
  });
});

describe("GET /docs", () => {
  it("loads Swagger UI from the Worker's own /assets/, never a CDN", async () => {
    const html = await (await SELF.fetch("http://nomnom.test/docs")).text();
    const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map(([, url]) => url);
    expect(urls.sort()).toEqual(["/assets/swagger-ui-dist/swagger-ui-bundle.js", "/assets/swagger-ui-dist/swagger-ui.css"]);
    expect(html).toContain("url: '/openapi.json'");
  });
});
