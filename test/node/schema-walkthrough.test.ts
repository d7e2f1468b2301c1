/**
 * Changing an entity, end to end on a copy of the project: v1 entities → ingest → v2 adds a field to
 * Order and a new entity → npm run build writes one migration → npm run dev applies it on start →
 * old and new senders' lines both ingest, the v1 rows are kept, a line v1 rejected (the new entity's)
 * is replayed from the quarantine → npm run migrate has nothing to do.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_CONNECTION_STRING } from "../../scripts/local-neon/start.ts";
import { databaseNamed } from "../support/database.ts";
import { type DevStack, startDevStack } from "../support/dev-stack.ts";
import { freePort, freePorts } from "../support/free-port.ts";
import { testProjectCopy } from "../support/test-project.ts";

const [PORT, NEON_PORT] = await freePorts(2);
const DATABASE = "nomnom_test_walkthrough";

let project: string;
let pgliteDir: string;
let stack: DevStack | undefined;

let inspectorPort: number;
const start = async () => {
  stack = await startDevStack({
    port: PORT,
    neonPort: NEON_PORT,
    database: DATABASE,
    root: project,
    pgliteDir,
    keepDatabase: stack !== undefined,
    inspectorPort,
  });
  return stack;
};
/** `npm run sql -- "…"` in the project, on the database its `npm run dev` uses. */
const npmSql = (statement: string) => {
  const url = databaseNamed(DATABASE);
  const env = { ...process.env, ...(url ? { DATABASE_URL: url } : { PGLITE_DIR: pgliteDir, DATABASE_URL: "" }) };
  return promisify(execFile)(process.execPath, ["scripts/sql.ts", statement], { cwd: project, env, encoding: "utf8" });
};
const stop = async () => {
  await stack?.stop();
};
const message = async (line: string) => {
  const res = await fetch(`http://localhost:${PORT}/ingest/message`, { method: "POST", body: line, headers: { "Content-Type": "text/plain" } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
/** A query through the stack's local Neon endpoint, as the Worker sends them. */
async function query(sql: string): Promise<(string | null)[][]> {
  const res = await fetch(`http://127.0.0.1:${NEON_PORT}/sql`, {
    method: "POST",
    headers: { "Neon-Connection-String": LOCAL_CONNECTION_STRING, "Neon-Raw-Text-Output": "true", "Neon-Array-Mode": "true" },
    body: JSON.stringify({ query: sql, params: [] }),
  });
  return ((await res.json()) as { rows: (string | null)[][] }).rows;
}
const sqlFiles = () =>
  readdirSync(join(project, "migrations"))
    .filter((f) => f.endsWith(".sql"))
    .sort();

beforeAll(async () => {
  inspectorPort = await freePort();
  project = testProjectCopy();
  pgliteDir = mkdtempSync(join(tmpdir(), "pglite-walkthrough-"));
});
afterAll(async () => {
  await stop();
  rmSync(project, { recursive: true, force: true });
});

describe("changing an entity with a running service", () => {
  it("migrates v1 to v2 with one new migration, and old and new senders both ingest", async () => {
    await start();
    expect(await message("O|1|100|O|123.45|1996-01-02|5-LOW|Clerk#000000951|0|v1 order")).toMatchObject({ status: 200 });
    // Sent before v2 exists: v1 knows no prefix S, and keeps the line in its quarantine.
    const early = await message("S|S0|1");
    expect(early).toMatchObject({ status: 400, body: { message: expect.stringContaining(`unknown prefix "S"`) } });
    await stop();

    const before = Object.fromEntries(sqlFiles().map((f) => [f, readFileSync(join(project, "migrations", f), "utf8")]));
    // Numbered after the project's own migrations, however many there are.
    const level = Object.keys(before).length + 1;
    const added = `${String(level).padStart(4, "0")}_orders_add_channel_and_1_more`;
    const order = join(project, "entities/order.yaml");
    writeFileSync(
      order,
      readFileSync(order, "utf8").replace(
        `    - { name: line_items,`,
        `    - { name: channel, type: String, nullable: true, doc: "Where the order came from" }\n    - { name: line_items,`,
      ),
    );
    writeFileSync(
      join(project, "entities/shipment.yaml"),
      "entity:\n  name: Shipment\n  prefix: S\n  fields:\n    - { name: shipment_key, type: String }\n    - { name: order_key, type: String }\n  persistence:\n    database: { unicity_fields: [shipment_key] }\n",
    );
    const built = execFileSync(process.execPath, ["scripts/build-entities.ts"], { cwd: project, encoding: "utf8" });
    expect(built).toContain(`New migration migrations/${added}.sql`);
    expect(sqlFiles()).toEqual([...Object.keys(before), `${added}.sql`]);
    for (const [file, text] of Object.entries(before)) expect(readFileSync(join(project, "migrations", file), "utf8"), file).toBe(text);

    const v2 = await start();
    expect(v2.log()).toContain(`[dev] migrations: applied ${added}`);
    const health = await (await fetch(`http://localhost:${PORT}/health`)).json();
    expect(health).toMatchObject({ database: "ok", schema: { worker: level, database: level } });
    // An older sender's 10-field line, a newer sender's 11-field line, and the new entity.
    expect(await message("O|2|100|O|10.00|1996-01-03|5-LOW|Clerk#1|0|old sender")).toMatchObject({ status: 200 });
    expect(await message("O|3|100|O|20.00|1996-01-04|5-LOW|Clerk#1|0|new sender|web")).toMatchObject({ status: 200 });
    expect(await message("S|S1|3")).toMatchObject({ status: 200, body: { entity: "Shipment" } });
    // The line v1 rejected passes the v2 registry: a replay writes it, and only once.
    const replay = async (query = "") =>
      (await fetch(`http://localhost:${PORT}/ingest/rejections/replay?request_id=${early.body.request_id}${query}`, { method: "POST" })).json();
    expect(await replay("&dry_run=true")).toMatchObject({ replayed: 1, inserted: 0, dry_run: true });
    expect(await replay()).toMatchObject({ replayed: 1, inserted: 1, still_rejected: 0, dry_run: false });
    expect(await replay()).toMatchObject({ replayed: 0, inserted: 0 });
    expect(await query("SELECT shipment_key, order_key FROM shipments ORDER BY shipment_key")).toEqual([
      ["S0", "1"],
      ["S1", "3"],
    ]);
    expect(await query("SELECT order_key, comment, channel FROM orders ORDER BY order_key")).toEqual([
      ["1", "v1 order", null],
      ["2", "old sender", null],
      ["3", "new sender", "web"],
    ]);

    const { stdout } = await promisify(execFile)(process.execPath, ["scripts/migrate.ts"], {
      cwd: project,
      env: { ...process.env, DATABASE_URL: LOCAL_CONNECTION_STRING, NEON_FETCH_ENDPOINT: v2.neonUrl },
    });
    expect(stdout).toBe(`Up to date: the database is at migration ${level}.\n`);
  });

  it("shows the dev database's rows with npm run sql, while npm run dev runs and after it stopped; INSPECTOR_PORT moves wrangler's inspector", async () => {
    const table = [
      " order_key | comment    | channel",
      "-----------+------------+---------",
      " 1         | v1 order   |",
      " 2         | old sender |",
      " 3         | new sender | web",
      "(3 rows)",
      "",
    ].join("\n");
    const statement = "select order_key, comment, channel from orders order by order_key";
    expect((await npmSql(statement)).stdout).toBe(table);
    // wrangler's inspector answers on the port given, not on its default 9229.
    expect(await (await fetch(`http://127.0.0.1:${inspectorPort}/json/version`)).json()).toMatchObject({ Browser: expect.any(String) });
    await stop();
    expect((await npmSql(statement)).stdout).toBe(table);
    expect((await npmSql("update orders set channel = 'mail' where order_key = '1'")).stdout).toBe("UPDATE 1\n");
    await expect(npmSql("select nope from orders")).rejects.toMatchObject({
      stderr: expect.stringContaining('npm run sql: column "nope" does not exist (SQLSTATE 42703)'),
    });
  });
});
