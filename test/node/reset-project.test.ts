/**
 * npm run reset-project, on a copy of the project (never on the project itself): the demo goes, a
 * starter entity comes, and the project builds, type-checks and serves its README examples at once.
 * It refuses once migrations/meta/databases.json records a database outside this machine.
 */
import { execFile, execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { recordAppliedDatabase } from "../../scripts/applied-databases.ts";
import { TEST_PROJECT } from "../support/test-project.ts";

const root = resolve(import.meta.dirname, "../..");

/**
 * The project's files as git sees them (committed or not), without node_modules (linked) or .data, holding
 * the demo's entities and migrations (test/project's, so this test also runs in a project already reset).
 */
function copyProject(): string {
  const copy = mkdtempSync(join(tmpdir(), "nomnom-reset-"));
  const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], { cwd: root, encoding: "utf8" })
    .split("\0")
    .filter(Boolean);
  for (const file of files) {
    if (!existsSync(join(root, file)) || file === "node_modules") continue; // deleted in the work tree; linked below
    mkdirSync(dirname(join(copy, file)), { recursive: true });
    cpSync(join(root, file), join(copy, file));
  }
  symlinkSync(join(root, "node_modules"), join(copy, "node_modules"));
  for (const entry of ["entities", "migrations"]) {
    rmSync(join(copy, entry), { recursive: true, force: true });
    cpSync(join(TEST_PROJECT, entry), join(copy, entry), { recursive: true });
  }
  return copy;
}
const reset = (copy: string) => execFileSync(process.execPath, ["scripts/reset-project.ts"], { cwd: copy, encoding: "utf8", stdio: "pipe" });
const list = (dir: string) => readdirSync(dir).sort();

describe("npm run reset-project", () => {
  it("refuses once a database outside this machine was migrated, changing nothing", () => {
    const copy = copyProject();
    recordAppliedDatabase(join(copy, "migrations"), "postgres://app:secret@ep-1.eu.aws.neon.tech/neondb", 4, "0004_quarantine");
    let failure: { status: number; stderr: string } | undefined;
    try {
      reset(copy);
    } catch (error) {
      failure = error as { status: number; stderr: string };
    }
    expect(failure?.status).toBe(1);
    expect(failure?.stderr).toContain(
      "npm run reset-project: refused. migrations/meta/databases.json records that ep-1.eu.aws.neon.tech/neondb (at 0004_quarantine) applied this project's migrations",
    );
    expect(list(join(copy, "entities"))).toEqual(list(join(TEST_PROJECT, "entities")));
    expect(list(join(copy, "migrations"))).toEqual(list(join(TEST_PROJECT, "migrations")));
  });

  it("refuses while npm run dev runs over the project's .data/, changing nothing", () => {
    const copy = copyProject();
    mkdirSync(join(copy, ".data/pglite"), { recursive: true });
    // What a running npm run dev leaves beside its PGlite folder: here a live process, this one.
    writeFileSync(join(copy, ".data/pglite.endpoint.json"), JSON.stringify({ pid: process.pid, url: "http://127.0.0.1:1/sql", connectionString: "x" }));
    let failure: { status: number; stderr: string } | undefined;
    try {
      reset(copy);
    } catch (error) {
      failure = error as { status: number; stderr: string };
    }
    expect(failure?.status).toBe(1);
    expect(failure?.stderr).toContain(`npm run reset-project: npm run dev is running (process ${process.pid}): stop it (Ctrl-C), then run this again.`);
    expect(list(join(copy, "entities"))).toEqual(list(join(TEST_PROJECT, "entities")));
  });

  it("leaves a starter entity, the service's own migrations renumbered, and a project that builds, type-checks and serves its README examples", async () => {
    const copy = copyProject();
    mkdirSync(join(copy, ".data/pglite"), { recursive: true });
    writeFileSync(join(copy, ".data/pglite/PG_VERSION"), "17\n");
    const out = reset(copy);
    expect(out).toContain("Removed:\n  entities/customer.yaml\n  entities/order.yaml\n  entities/order_line_item.yaml\n  entities/product.yaml\n");
    expect(out).toContain("New migration migrations/0005_create_events.sql");
    expect(list(join(copy, "entities"))).toEqual(["event.yaml"]);
    expect(list(join(copy, "migrations"))).toEqual([
      "0001_idempotency.sql",
      "0002_idempotency_per_key.sql",
      "0003_quarantine.sql",
      "0004_insert_each.sql",
      "0005_create_events.sql",
      "meta",
    ]);
    expect(list(join(copy, "migrations/meta"))).toEqual(["0005_snapshot.json", "_journal.json"]);
    const journal = JSON.parse(readFileSync(join(copy, "migrations/meta/_journal.json"), "utf8")).entries.map((e: { tag: string }) => e.tag);
    expect(journal).toEqual(["0001_idempotency", "0002_idempotency_per_key", "0003_quarantine", "0004_insert_each", "0005_create_events"]);
    // The service's migrations are the same files, under their new numbers.
    expect(readFileSync(join(copy, "migrations/0003_quarantine.sql"), "utf8")).toBe(readFileSync(join(TEST_PROJECT, "migrations/0004_quarantine.sql"), "utf8"));
    expect(existsSync(join(copy, ".data"))).toBe(false);
    expect(list(join(copy, "examples"))).toEqual(["client.mjs", "events.ndjson", "events.txt"]);
    expect(readFileSync(join(copy, "src/generated/registry.ts"), "utf8")).toContain(`name: "Event", prefix: "E"`);
    const readme = readFileSync(join(copy, "README.md"), "utf8");
    expect(readme).toContain(`curl -s localhost:8080/ingest/message -H "Content-Type: text/plain" -d "E|evt-1|created|12.50|2026-01-02T03:04:05Z|hello"`);
    expect(readme).not.toContain("examples/messages.txt");
    expect(readme).toContain(`client.send("Event", {`); // the client library's sample too
    expect(readme).not.toContain("O|1|100|O|123.45"); // nor the demo's line in the deploy step's smoke test

    const run = (...args: string[]) =>
      promisify(execFile)(process.execPath, args, { cwd: copy, encoding: "utf8", env: { ...process.env, DATABASE_URL: "", NO_COLOR: "1", FORCE_COLOR: "0" } });
    expect((await run("scripts/build-entities.ts", "--check")).stdout).toMatch(/^Up to date: registry [0-9a-f]{12}, 1 entities: Event \(E\)/);
    // The tests type-check against their own entity set, not the starter's.
    await run("node_modules/typescript/bin/tsc", "--noEmit");
    // The README's examples, run by the project's own README test against its npm run dev.
    const readmeTest = await run("node_modules/vitest/vitest.mjs", "run", "--project", "node", "test/node/readme.test.ts");
    expect(readmeTest.stdout).toMatch(/Tests +(\d+) passed \(\1\)/);
  }, 300_000);
});
