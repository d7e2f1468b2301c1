/** The OpenAPI document against the routes the Worker really serves, and /docs' page. */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import packageJson from "../../package.json" with { type: "json" };
import { app } from "../../src/app.ts";
import { ERROR_CODES } from "../../src/errors.ts";
import { ENTITIES } from "../../src/registry.ts";

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

type Operation = { operationId?: string; tags?: string[]; security?: unknown[]; responses: Record<string, Response> };
type Response = { headers?: Record<string, { $ref: string }>; content?: Record<string, { schema: Record<string, unknown> }> };
type Document = {
  info: { version: string };
  servers: { url: string }[];
  tags: { name: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { required?: string[]; properties: Record<string, { enum?: string[] }> }>; headers: Record<string, unknown> };
};

describe("the contract clients generate code from", async () => {
  const doc = await (await SELF.fetch("https://nomnom.example/openapi.json")).json<Document>();
  const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ name: `${method} ${path}`, ...op })));

  it("names this deployment as its server, and the service's version (not the registry hash) as its version", () => {
    expect(doc.servers).toEqual([{ url: "https://nomnom.example", description: "This deployment" }]);
    expect(doc.info.version).toBe(packageJson.version);
  });

  it("gives every operation a unique operationId, one of three tags, a 4xx answer, and security (empty for the public routes)", () => {
    const ids = operations.map((op) => op.operationId);
    expect(new Set(ids).size).toBe(operations.length);
    expect(doc.tags.map((t) => t.name)).toEqual(["ingest", "quarantine", "system"]);
    for (const op of operations) {
      expect(op.operationId, op.name).toMatch(/^[a-z][A-Za-z]+$/);
      expect(op.tags, op.name).toHaveLength(1);
      expect(["ingest", "quarantine", "system"]).toContain(op.tags![0]);
      expect(
        Object.keys(op.responses).some((status) => status.startsWith("4")),
        op.name,
      ).toBe(true);
      expect(op.security, op.name).toBeDefined();
    }
    const open = operations.filter((op) => op.security!.length === 0).map((op) => op.name);
    expect(open.sort()).toEqual(["get /dashboard", "get /docs", "get /health", "get /limits", "get /openapi.json"]);
  });

  it("answers every error with the one Error schema, whose code is the service's codes", () => {
    const error = doc.components.schemas.Error;
    expect(error.required).toEqual(["status", "code", "message", "request_id"]);
    expect(error.properties.code.enum).toEqual(ERROR_CODES);
    for (const op of operations) {
      for (const [status, answer] of Object.entries(op.responses)) {
        if (Number(status) < 400 || op.name === "get /health") continue;
        const schema = JSON.stringify(answer.content?.["application/json"]?.schema);
        expect(schema, `${op.name} ${status}`).toContain("#/components/schemas/Error");
      }
    }
  });

  it("documents X-Request-Id on every answer, Retry-After on every 429, Location and Ingest-Fallback on every 202", () => {
    expect(Object.keys(doc.components.headers).sort()).toEqual(["Idempotent-Replayed", "Ingest-Fallback", "Location", "Retry-After", "X-Request-Id"]);
    for (const op of operations) {
      for (const [status, answer] of Object.entries(op.responses)) {
        const names = Object.keys(answer.headers ?? {});
        expect(names, `${op.name} ${status}`).toContain("X-Request-Id");
        if (status === "429") expect(names, `${op.name} ${status}`).toContain("Retry-After");
        if (status === "202") expect(names, `${op.name} ${status}`).toEqual(expect.arrayContaining(["Location", "Ingest-Fallback"]));
      }
    }
  });

  it("names a schema per entity of the registry, and the answers and stream events", () => {
    const names = Object.keys(doc.components.schemas);
    expect(names).toEqual(expect.arrayContaining([...ENTITIES.map((e) => e.name), "BatchResult", "Receipt", "Rejection", "Accepted", "Error"]));
    expect(names).toEqual(expect.arrayContaining(["StreamEvent", "ProgressEvent", "SummaryEvent", "RejectedOverflowEvent"]));
    const json = JSON.stringify(doc.paths["/ingest/batch"].post);
    for (const e of ENTITIES) expect(json).toContain(`#/components/schemas/${e.name}`);
    expect(doc.paths["/ingest/stream"].post.responses["200"].content?.["text/event-stream"].schema).toEqual({ $ref: "#/components/schemas/StreamEvent" });
  });
});
