/**
 * The operational surface of a running `npm run dev`: the OpenAPI document checked by a real
 * validator, /metrics by Prometheus' own promtool, /docs and the dashboard in headless Chromium
 * (each page's requests all to the Worker's own origin). Screenshots land in test/.output/.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import SwaggerParser from "@apidevtools/swagger-parser";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import packageJson from "../../package.json" with { type: "json" };
import { launchChromium } from "../support/chromium.ts";
import { type DevStack, root, startDevStack } from "../support/dev-stack.ts";
import { freePorts } from "../support/free-port.ts";
import { tpchLines } from "../support/tpch.ts";

const OUTPUT = join(root, "test/.output");
let stack: DevStack;

const batch = (lines: string[]) => fetch(`${stack.base}/ingest/batch`, { method: "POST", body: lines.join("\n"), headers: { "Content-Type": "text/plain" } });

beforeAll(async () => {
  const [port, neonPort] = await freePorts(2);
  stack = await startDevStack({ port, neonPort, database: "nomnom_test_observability" });
});
afterAll(() => stack.stop());

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(() => browser?.close());

/** A page whose every request is recorded, so a test can check none left the Worker's origin. */
async function openPage(path: string): Promise<{ page: Page; requested: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  const requested: string[] = [];
  page.on("request", (request) => requested.push(request.url()));
  await page.goto(`${stack.base}${path}`);
  return { page, requested };
}

const origins = (urls: string[]) => [...new Set(urls.map((url) => new URL(url).origin))];
// Page-side expressions as strings: they run in the browser, not under this file's (non-DOM) types.
const color = (page: Page, selector: string) => page.evaluate(`getComputedStyle(document.querySelector(${JSON.stringify(selector)})).color`);
const texts = (page: Page, selector: string) =>
  page.evaluate(`[...document.querySelectorAll(${JSON.stringify(selector)})].map((e) => e.textContent)`) as Promise<string[]>;

describe("GET /openapi.json", () => {
  // That it documents exactly the served routes is test/worker/openapi.test.ts (the app imports workerd modules).
  it("is a valid OpenAPI 3.1 document by a real validator", async () => {
    const doc = (await (await fetch(`${stack.base}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe("3.1.0");
    await SwaggerParser.validate(structuredClone(doc) as never);
    expect(Object.keys(doc.paths)).toContain("/ingest/stream");
  });
});

const GREEN = "rgb(31, 138, 76)";
const AMBER = "rgb(183, 121, 31)";
const RED = "rgb(211, 60, 60)";

describe("the dashboard with no failed message", () => {
  it("shows a 0.00 % error rate and 0 failed in green", async () => {
    expect((await batch(tpchLines(300, 20))).status).toBe(200);
    const { page } = await openPage("/dashboard");
    await page.waitForFunction(`Number(document.getElementById("total").textContent.replace(/,/g, "")) >= 300`, undefined, { timeout: 15_000 });
    expect(await page.textContent("#error-rate")).toBe("0.00 %");
    expect(await page.getAttribute("#error-rate-card", "data-level")).toBe("ok");
    expect(await color(page, "#error-rate")).toBe(GREEN);
    expect(await color(page, "#failed")).toBe(GREEN);
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

describe("GET /docs", () => {
  it("renders an operation for every route of the OpenAPI document, loading nothing from another origin", async () => {
    const doc = (await (await fetch(`${stack.base}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const expected = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    const { page, requested } = await openPage("/docs");
    await page.waitForSelector(".opblock-summary-method", { timeout: 30_000 });
    const rendered = (
      (await page.evaluate(
        `[...document.querySelectorAll(".opblock")].map((b) => b.querySelector(".opblock-summary-method").textContent + " " + b.querySelector(".opblock-summary-path").getAttribute("data-path"))`,
      )) as string[]
    ).sort();
    expect(rendered).toEqual(expected);
    expect(rendered.length).toBeGreaterThanOrEqual(11);
    // Grouped by the document's tags, not one "default" group; the badge is the service's version.
    expect(await page.evaluate(`[...document.querySelectorAll(".opblock-tag")].map((t) => t.getAttribute("data-tag"))`)).toEqual([
      "ingest",
      "quarantine",
      "system",
    ]);
    expect((await page.textContent(".info .version"))?.trim()).toBe(packageJson.version);
    expect(origins(requested)).toEqual([stack.base]);
    expect(requested).toContain(`${stack.base}/assets/swagger-ui-dist/swagger-ui-bundle.js`);
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, "docs.png"), fullPage: true });
  });
});

describe("the dashboard", () => {
  it("shows the totals, colours the error rate by its value, charts the last minutes, and leaves a screenshot", async () => {
    const { page, requested } = await openPage("/dashboard");
    await page.waitForFunction(`document.getElementById("status").textContent.startsWith("updated")`);
    const number = async (id: string) => Number((await page.textContent(`#${id}`))!.replace(/,/g, ""));
    const before = await number("total");
    expect((await batch(tpchLines(2000, 22))).status).toBe(200);
    await page.waitForFunction(`Number(document.getElementById("total").textContent.replace(/,/g, "")) >= ${before + 2000}`, undefined, { timeout: 15_000 });
    expect(await number("total")).toBeGreaterThanOrEqual(before + 2000);
    expect(await page.locator("#entities tr[data-entity=Order]").count()).toBe(1);
    expect(await page.textContent("#percentiles")).toMatch(/ms/);

    // /metrics' test sent one bad line: a low, non-zero error rate is amber, not green or red.
    expect(await number("failed")).toBe(1);
    expect(await page.textContent("#error-rate")).toMatch(/^0\.\d\d %$/);
    expect(await page.getAttribute("#error-rate-card", "data-level")).toBe("warn");
    expect(await color(page, "#error-rate")).toBe(AMBER);
    expect(await color(page, "#failed")).toBe(RED);

    // Three uPlot charts on one time axis, each y axis labelled with its unit; the batch shows as throughput.
    await page.waitForFunction(`typeof charts === "object" && charts !== null && charts.throughput.data[1].some((v) => v > 0)`, undefined, { timeout: 15_000 });
    expect(await texts(page, ".chart .u-title")).toEqual(["Throughput", "Error rate", "Request duration"]);
    expect(await page.evaluate(`Object.values(charts).map((c) => [c.scales.x.time, c.axes[1].label])`)).toEqual([
      [true, "messages/s"],
      [true, "failed %"],
      [true, "ms"],
    ]);
    expect(await texts(page, ".chart .u-legend .u-series:not(:first-child) .u-label")).toEqual(["messages/s", "failed / messages", "p50", "p99"]);
    expect(await page.evaluate(`document.querySelectorAll(".chart canvas").length`)).toBe(3);
    // A few 2-s points (the page's own polls are requests too), so the screenshot shows latency lines, not dots.
    await page.waitForFunction(`charts.latency.data[1].filter((v) => v !== null).length >= 4`, undefined, { timeout: 20_000 });
    const latency = (await page.evaluate(`charts.latency.data.slice(1).map((s) => s.filter((v) => v !== null))`)) as number[][];
    for (const series of latency) for (const ms of series) expect(ms).toBeGreaterThan(0);
    expect(origins(requested)).toEqual([stack.base]);
    expect(requested).toContain(`${stack.base}/assets/uplot/uPlot.iife.min.js`);
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, "dashboard.png"), fullPage: true });
  });
});
