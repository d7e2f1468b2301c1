/**
 * The operational surface of a running `npm run dev`: the OpenAPI document checked by a real
 * validator, /metrics by Prometheus' own promtool, and the dashboard in headless Chromium.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import SwaggerParser from "@apidevtools/swagger-parser";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { app } from "../../src/app.ts";
import { root, startDevStack, type DevStack } from "../support/dev-stack.ts";
import { tpchLines } from "../support/tpch.ts";

const OUTPUT = join(root, "test/.output");
let stack: DevStack;

const batch = (lines: string[]) => fetch(`${stack.base}/ingest/batch`, { method: "POST", body: lines.join("\n"), headers: { "Content-Type": "text/plain" } });

beforeAll(async () => {
  stack = await startDevStack({ port: 18788, neonPort: 45434, database: "nomnom_test_observability" });
});
afterAll(() => stack.stop());

describe("GET /openapi.json", () => {
  it("is a valid OpenAPI 3.1 document that covers every route the Worker serves", async () => {
    const doc = (await (await fetch(`${stack.base}/openapi.json`)).json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe("3.1.0");
    await SwaggerParser.validate(structuredClone(doc) as never);
    // One entry per handler in a route's chain: deduplicated.
    const served = [...new Set(app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method.toLowerCase()} ${r.path}`))].sort();
    // OpenAPI writes {id} where Hono writes :id.
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method} ${path.replace(/\{(\w+)\}/g, ":$1")}`)).sort();
    expect(documented).toEqual(served);
    expect(served).toContain("post /ingest/stream");
  });

  it("serves interactive docs at /docs pointing at the document", async () => {
    const html = await (await fetch(`${stack.base}/docs`)).text();
    expect(html).toContain("swagger");
    expect(html).toContain("/openapi.json");
  });
});

describe("GET /metrics", () => {
  it("passes promtool check metrics after real traffic", async () => {
    expect((await batch(tpchLines(500, 21).concat("BAD|line"))).status).toBe(207);
    const text = await (await fetch(`${stack.base}/metrics`)).text();
    expect(text).toMatch(/^ingestion_messages_total\{entity="Order",status="inserted"\} \d+$/m);
    const out = execFileSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(out).toBe("");
  });
});

describe("the dashboard", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"],
    });
  });
  afterAll(() => browser?.close());

  it("shows the totals, sees them change after a batch, and leaves a screenshot", async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    await page.goto(`${stack.base}/dashboard`);
    // Page-side expressions as strings: they run in the browser, not under this file's (non-DOM) types.
    await page.waitForFunction(`document.getElementById("status").textContent.startsWith("updated")`);
    const number = async (id: string) => Number((await page.textContent(`#${id}`))!.replace(/,/g, ""));
    const before = await number("total");
    expect((await batch(tpchLines(2000, 22))).status).toBe(200);
    await page.waitForFunction(`Number(document.getElementById("total").textContent.replace(/,/g, "")) >= ${before + 2000}`, undefined, { timeout: 15_000 });
    expect(await number("total")).toBeGreaterThanOrEqual(before + 2000);
    expect(await page.locator("#entities tr[data-entity=Order]").count()).toBe(1);
    expect(await page.textContent("#percentiles")).toMatch(/ms/);
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, "dashboard.png"), fullPage: true });
  });
});
