import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_CONNECTION_STRING, startLocalNeon, type LocalNeon } from "../../scripts/local-neon/start.ts";

const root = resolve(import.meta.dirname, "../..");

describe("npm run migrate", () => {
  let local: LocalNeon;
  beforeAll(async () => {
    local = await startLocalNeon({ migrate: false });
  });
  afterAll(() => local.close());

  // Asynchronous: the endpoint answering the child runs in this very process.
  const migrate = async () =>
    (await promisify(execFile)(process.execPath, ["scripts/migrate.ts"], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: LOCAL_CONNECTION_STRING, NEON_FETCH_ENDPOINT: local.url },
    })).stdout;

  it("creates every table and natural-key index over Neon's HTTP API, and can run again", async () => {
    expect(await migrate()).toMatch(/^Applied \d+ statements from migrations\/ in one transaction\./);
    expect(await migrate()).toMatch(/^Applied/);
    const indexes = await local.db.query({ query: "SELECT indexname FROM pg_indexes WHERE indexname LIKE '%natural_key' ORDER BY 1", params: [] });
    expect(indexes.rows.flat()).toEqual(["customers_natural_key", "order_line_items_natural_key", "orders_natural_key", "products_natural_key"]);
  });

  it("refuses to run without DATABASE_URL", () => {
    const env = { ...process.env };
    delete env.DATABASE_URL;
    expect(() => execFileSync(process.execPath, ["scripts/migrate.ts"], { cwd: root, env, stdio: "pipe" })).toThrow(/Set DATABASE_URL/);
  });
});

describe("the embedded database of npm run dev", () => {
  it("keeps its data in its folder across restarts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pglite-"));
    const first = await startLocalNeon({ pgliteDir: dir });
    await first.db.query({ query: "INSERT INTO customers (customer_key, name, account_balance) VALUES ('C1', 'Ann', 1.5)", params: [] });
    await first.close();
    const second = await startLocalNeon({ pgliteDir: dir });
    try {
      const { rows } = await second.db.query({ query: "SELECT customer_key, account_balance FROM customers", params: [] });
      expect(rows).toEqual([["C1", "1.5"]]);
    } finally {
      await second.close();
    }
  });
});
