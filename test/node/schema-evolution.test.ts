import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { TEST_ENTITIES, TEST_MIGRATIONS } from "../support/test-project.ts";

const root = resolve(import.meta.dirname, "../..");
/** The test project's migrations as committed: the tests' changes are numbered after them. */
const COMMITTED = readdirSync(TEST_MIGRATIONS)
  .filter((f) => f.endsWith(".sql"))
  .sort();
const numbered = (n: number) => String(n).padStart(4, "0");
const NEXT = numbered(COMMITTED.length + 1);

/** A copy of the project's entities and migrations, built with the real build script. */
let project: string;
const entities = () => join(project, "entities");
const build = (...args: string[]) =>
  execFileSync(process.execPath, ["scripts/build-entities.ts", "--entities", entities(), "--out", project, ...args], {
    cwd: root,
    encoding: "utf8",
    stdio: "pipe",
  });
/** The build's exit code and stderr, for builds that must fail. */
function failedBuild(...args: string[]): { status: number; stderr: string } {
  try {
    build(...args);
  } catch (error) {
    return { status: (error as { status: number }).status, stderr: String((error as { stderr: string }).stderr) };
  }
  throw new Error("the build succeeded");
}
const migrations = () =>
  readdirSync(join(project, "migrations"))
    .filter((f) => f.endsWith(".sql"))
    .sort();
const read = (path: string) => readFileSync(join(project, path), "utf8");
function edit(file: string, from: string | RegExp, to: string): void {
  const path = join(entities(), file);
  const text = readFileSync(path, "utf8");
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`${file}: nothing matched ${from}`);
  writeFileSync(path, changed);
}
const ORDER_FIELDS_END = `    - { name: line_items, type: "List[Object]"`;
const addOrderField = (field: string) => edit("order.yaml", ORDER_FIELDS_END, `    - ${field}\n${ORDER_FIELDS_END}`);

beforeEach(() => {
  project = mkdtempSync(join(tmpdir(), "nomnom-evolve-"));
  cpSync(TEST_ENTITIES, entities(), { recursive: true });
  cpSync(TEST_MIGRATIONS, join(project, "migrations"), { recursive: true });
  build();
  return () => rmSync(project, { recursive: true, force: true });
});

describe("npm run build when the entities change", () => {
  it("writes nothing new when nothing changed, and --check agrees", () => {
    expect(migrations()).toEqual(COMMITTED);
    expect(build("--check")).toMatch(/^Up to date/);
  });

  it("writes exactly one new migration for a new nullable field and a new entity, leaving the others byte for byte", () => {
    const before = Object.fromEntries(migrations().map((f) => [f, read(`migrations/${f}`)]));
    addOrderField(`{ name: channel, type: String, nullable: true }`);
    writeFileSync(
      join(entities(), "shipment.yaml"),
      "entity:\n  name: Shipment\n  prefix: S\n  fields:\n    - { name: shipment_key, type: String }\n    - { name: carrier, type: String, nullable: true }\n  persistence:\n    database: { unicity_fields: [shipment_key] }\n",
    );
    expect(failedBuild("--check").stderr).toMatch(
      new RegExp(
        `stale: .*migrations/${NEXT}_orders_add_channel_and_1_more\\.sql.*The entities changed since the last migration \\(orders add channel; create shipments\\)`,
      ),
    );
    expect(build()).toContain(`New migration migrations/${NEXT}_orders_add_channel_and_1_more.sql`);
    expect(migrations()).toEqual([...COMMITTED, `${NEXT}_orders_add_channel_and_1_more.sql`]);
    for (const [file, text] of Object.entries(before)) expect(read(`migrations/${file}`), file).toBe(text);
    const sql = read(`migrations/${NEXT}_orders_add_channel_and_1_more.sql`);
    expect(sql).toContain(`ALTER TABLE "orders" ADD COLUMN "channel" text;`);
    expect(sql).toContain(`CREATE TABLE "shipments" (`);
    expect(sql).toContain(`CREATE UNIQUE INDEX "shipments_natural_key" ON "shipments" ("shipment_key");`);
    expect(read("src/generated/registry.ts")).toContain(`export const SCHEMA_LEVEL = ${COMMITTED.length + 1};`);
    // Built again: nothing more.
    build();
    expect(migrations()).toHaveLength(COMMITTED.length + 1);
    expect(build("--check")).toMatch(/^Up to date/);
  });

  it("adds a required field with a default as NOT NULL DEFAULT, so older rows and senders get the default", () => {
    addOrderField(`{ name: currency, type: String, default: EUR }`);
    build();
    expect(read(`migrations/${migrations().at(-1)}`)).toContain(`ALTER TABLE "orders" ADD COLUMN "currency" text DEFAULT 'EUR' NOT NULL;`);
    // The generated line parser fills the default for a line that stops before the field.
    expect(read("src/generated/registry.ts")).toMatch(/const r10 = f\[10\] === undefined \|\| f\[10\] === "" \? "EUR" : f\[10\];/);
  });

  it("turns a declared rename into RENAME COLUMN, marked as breaking Workers built before it", () => {
    edit("order.yaml", "{ name: clerk, type: String,", "{ name: clerk_name, renamed_from: clerk, type: String,");
    build();
    const file = migrations().at(-1)!;
    expect(file).toBe(`${NEXT}_orders_rename_clerk_to_clerk_name.sql`);
    const sql = read(`migrations/${file}`);
    expect(sql).toContain(`ALTER TABLE "orders" RENAME COLUMN "clerk" TO "clerk_name";`);
    expect(sql).toContain("-- nomnom: breaks-older-workers");
    expect(JSON.parse(read("migrations/meta/_journal.json")).entries.at(-1)).toMatchObject({ idx: COMMITTED.length + 1, breaksOlderWorkers: true });
    // The rename stays declared in the YAML: building again changes nothing.
    build();
    expect(migrations()).toHaveLength(COMMITTED.length + 1);
  });

  it("widens Integer to BigInt in place", () => {
    edit("order.yaml", "{ name: ship_priority, type: Integer,", "{ name: ship_priority, type: BigInt,");
    build();
    expect(read(`migrations/${migrations().at(-1)}`)).toContain(`ALTER TABLE "orders" ALTER COLUMN "ship_priority" TYPE bigint;`);
  });

  const refused: [string, () => void, string][] = [
    [
      "removing a field",
      () => edit("order.yaml", /^ {4}- \{ name: clerk, .*\n/m, ""),
      `entities/order.yaml, entity Order, field clerk: the field was removed (column clerk). Removing it drops the column and its data. Keep it (make it nullable: true if senders stop filling it); if it was renamed, declare renamed_from: clerk on the new name; or drop it with \`npm run build -- --allow-destructive\` (its pipe position 7 stays reserved, so the 2 later fields keep their positions).`,
    ],
    [
      "an incompatible type change",
      () => edit("order.yaml", "{ name: total_price, type: Decimal,", "{ name: total_price, type: Integer,"),
      `entities/order.yaml, entity Order, field total_price: the type changed in a way that can lose data (numeric → integer)`,
    ],
    [
      "changing the natural key",
      () => edit("order.yaml", "unicity_fields: [order_key]", "unicity_fields: [order_key, customer_key]"),
      `entities/order.yaml, entity Order: the natural key changed (order_key → order_key, customer_key)`,
    ],
    [
      "nullable to required",
      () => edit("order.yaml", "{ name: clerk, type: String, nullable: true,", "{ name: clerk, type: String,"),
      `entities/order.yaml, entity Order, field clerk: the field changed from nullable to required`,
    ],
    [
      "a new wire field inserted mid-list",
      () => edit("order.yaml", "    - { name: clerk,", "    - { name: channel, type: String, nullable: true }\n    - { name: clerk,"),
      `entities/order.yaml, entity Order, field channel: the new field is inserted before existing field clerk (which is at position 7)`,
    ],
    [
      "reordered fields",
      () => edit("order.yaml", /( {4}- \{ name: clerk, .*\n)( {4}- \{ name: ship_priority, .*\n)/, "$2$1"),
      `entities/order.yaml, entity Order, field clerk: the field moved (position 7 → 8)`,
    ],
    [
      "a new required field without a default",
      () => addOrderField("{ name: channel, type: String }"),
      `entities/order.yaml, entity Order, field channel: a new required field has no default`,
    ],
    ["removing an entity", () => rmSync(join(entities(), "product.yaml")), `entity Product (table products) was removed`],
  ];
  for (const [what, change, message] of refused) {
    it(`refuses ${what}, naming the file, entity and field, and writes nothing`, () => {
      change();
      const { status, stderr } = failedBuild();
      expect(status).toBe(1);
      expect(stderr).toContain(message);
      expect(migrations()).toEqual(COMMITTED);
    });
  }

  it("refuses a migration edited after it was written", () => {
    writeFileSync(join(project, "migrations/0002_idempotency.sql"), `${read("migrations/0002_idempotency.sql")}-- edited\n`);
    expect(failedBuild("--check").stderr).toContain("migrations/0002_idempotency.sql was edited after it was written: migrations are append-only");
  });

  it("takes a hand-written migration into the journal, numbered after the last", () => {
    writeFileSync(join(project, `migrations/${NEXT}_audit.sql`), "CREATE TABLE audit (id bigint PRIMARY KEY);\n");
    expect(failedBuild("--check").stderr).toContain("migrations/meta/_journal.json");
    build();
    expect(JSON.parse(read("migrations/meta/_journal.json")).entries.map((e: { tag: string }) => e.tag)).toEqual([
      ...COMMITTED.map((f) => f.replace(/\.sql$/, "")),
      `${NEXT}_audit`,
    ]);
    const skipped = `${numbered(COMMITTED.length + 3)}_skipped.sql`;
    writeFileSync(join(project, `migrations/${skipped}`), "SELECT 1;\n");
    expect(failedBuild().stderr).toContain(`migrations/${skipped}: the next migration must be number ${numbered(COMMITTED.length + 2)}`);
  });
});
