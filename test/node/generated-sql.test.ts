/**
 * The generated insert statements against a real database, for every field type the compiler
 * accepts (test/fixtures/types): rows parsed by the generated parsers, written by the batch
 * writer through the local Neon endpoint, read back as PostgreSQL stored them.
 */

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { neonConfig } from "@neondatabase/serverless";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { executorOf, LOCAL_CONNECTION_STRING, type LocalNeon, startLocalNeon } from "../../scripts/local-neon/start.ts";
import { migrate } from "../../scripts/migrations.ts";
import { insertWriter } from "../../src/db/insert-writer.ts";
import { createDbIsolate } from "../../src/db/isolate.ts";
import { database } from "../../src/db/neon.ts";
import { type EntityDef, rowAsArray } from "../../src/entity/entity.ts";
import { settingsOf } from "../../src/env.ts";
import { writeRows } from "../../src/writer/batch.ts";
import { withBisection } from "../../src/writer/bisect.ts";
import type { RowToWrite } from "../../src/writer/rows.ts";
import { freshDatabase } from "../support/database.ts";

const root = resolve(import.meta.dirname, "../..");

describe("the generated insert statement, for every field type", () => {
  let local: LocalNeon;
  let sample: EntityDef;
  const write = (rows: RowToWrite[]) =>
    writeRows(
      rows,
      withBisection(
        insertWriter(database(settingsOf({ DATABASE_URL: LOCAL_CONNECTION_STRING, NEON_FETCH_ENDPOINT: local.url, DB_RETRY_MS: "0" }), createDbIsolate())),
      ),
    );
  const stored = async (id: string) =>
    (
      await local.db.query({
        query: "SELECT sample_id, code, count, total, ratio, price, active, day, at, config, tags FROM samples WHERE sample_id = $1",
        params: [id],
      })
    ).rows[0];
  const line = (fields: string[]) => {
    const parsed = sample.parseLine(["S", ...fields]);
    if (!Array.isArray(parsed)) throw new Error(parsed.message);
    return { entity: sample, json: JSON.stringify(parsed), lineNumber: 1 };
  };

  beforeAll(async () => {
    // The generated files go under test/.output, beside a link to src/ingest, so their imports resolve.
    mkdirSync(join(root, "test/.output"), { recursive: true });
    const out = mkdtempSync(join(root, "test/.output/types-"));
    execFileSync(process.execPath, ["scripts/build-entities.ts", "--entities", "test/fixtures/types", "--out", out], { cwd: root });
    symlinkSync(join(root, "src/ingest"), join(out, "src/ingest"));
    const registry = (await import(join(out, "src/generated/registry.ts"))) as { ENTITIES: EntityDef[] };
    sample = registry.ENTITIES[0];
    local = await startLocalNeon({ databaseUrl: await freshDatabase("nomnom_test_generated_sql"), migrate: false });
    await migrate(executorOf(local.db), () => {}, join(out, "migrations"));
  });
  afterAll(async () => {
    await local?.close();
    neonConfig.fetchEndpoint = (host) => `https://${host}/sql`;
  });

  it("stores each type's value exactly as parsed", async () => {
    const id = "1f0c3e1e-8a5b-4c3d-9e2f-0a1b2c3d4e5f";
    const result = await write([
      line([
        id,
        "AB-1",
        "-7",
        "9007199254740993",
        "0.1",
        "123456.78",
        "true",
        "1996-02-29",
        "2026-11-27T10:00:00Z",
        `{"a":[1,"x",null],"b":{"c":true}}`,
        `["red","big \\"one\\"",""]`,
      ]),
    ]);
    expect(result).toMatchObject({ inserted: 1, failed: [] });
    expect(await stored(id)).toEqual([
      id,
      "AB-1",
      "-7",
      "9007199254740993",
      "0.1",
      "123456.78",
      "t",
      "1996-02-29",
      "2026-11-27 10:00:00+00",
      `{"a": [1, "x", null], "b": {"c": true}}`,
      `{red,"big \\"one\\"",""}`,
    ]);
  });

  it("stores empty optional fields, and JSON null in a json field, as SQL NULL", async () => {
    const id = "2f0c3e1e-8a5b-4c3d-9e2f-0a1b2c3d4e5f";
    expect(await write([line([id, "x", "", "", "", "", "", "", "", "null", ""])])).toMatchObject({ inserted: 1 });
    expect(await stored(id)).toEqual([id, "x", null, null, null, null, null, null, null, null, null]);
  });

  it("refuses a value too long for its varchar column rather than cutting it", async () => {
    const id = "3f0c3e1e-8a5b-4c3d-9e2f-0a1b2c3d4e5f";
    // The parser checks maxLength too; this row skips it to show what the statement itself does.
    const json = JSON.stringify([id, "TOOLONG", null, null, null, null, null, null, null, null, null]);
    const result = await write([{ entity: sample, json, lineNumber: 4 }]);
    expect(result.inserted).toBe(0);
    expect(result.failed).toEqual([expect.objectContaining({ line_number: 4, message: expect.stringContaining("SQLSTATE 22001") })]);
    expect(result.failed[0].line).toContain(`"code":"TOOLONG"`);
    expect(await stored(id)).toBeUndefined();
  });

  it("writes a row queued by the previous version as an object keyed by column", async () => {
    const id = "4f0c3e1e-8a5b-4c3d-9e2f-0a1b2c3d4e5f";
    const old = JSON.stringify({ sample_id: id, code: "OLD", price: 1.5, tags: ["a"] });
    expect(await write([{ entity: sample, json: rowAsArray(sample, old), lineNumber: 1 }])).toMatchObject({ inserted: 1 });
    expect(await stored(id)).toEqual([id, "OLD", null, null, null, "1.50", null, null, null, null, "{a}"]);
  });
});
