/**
 * IngestRun's accounting when two flushes are written at once: whatever the order in which they
 * finish or fail, the totals are what the database holds. Rows go to a real database through the
 * local Neon endpoint; the runner in between fails the statements of chosen rows on purpose.
 */
import { neonConfig } from "@neondatabase/serverless";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { LOCAL_CONNECTION_STRING, type LocalNeon, startLocalNeon } from "../../scripts/local-neon/start.ts";
import { insertWriter } from "../../src/db/insert-writer.ts";
import { createDbIsolate } from "../../src/db/isolate.ts";
import { database } from "../../src/db/neon.ts";
import { settingsOf } from "../../src/env.ts";
import { TransientDatabaseError } from "../../src/errors.ts";
import { IngestRun } from "../../src/ingest/ingest-run.ts";
import { parseLines } from "../../src/ingest/parse-messages.ts";
import { type ChunkWriter, withBisection } from "../../src/writer/bisect.ts";
import type { Writer } from "../../src/writer/port.ts";
import { customers } from "../support/customers.ts";
import { freshDatabase } from "../support/database.ts";
import { TEST_MIGRATIONS } from "../support/test-project.ts";

describe("IngestRun with two flushes in flight", () => {
  let local: LocalNeon;
  let real: Writer;
  const stored = async () => Number((await local.db.query({ query: "SELECT count(*) FROM customers", params: [] })).rows[0][0]);

  /** Statements whose rows hold `failKey` fail after `delayMs`; the others are written after `okDelayMs`. */
  const runner = (failKey: string, delayMs: number, okDelayMs = 0): ChunkWriter =>
    withBisection({
      ...real,
      async writeChunk(entity, rows) {
        if (rows.some((r) => r.json.includes(failKey))) {
          await new Promise((r) => setTimeout(r, delayMs));
          throw new TransientDatabaseError("injected: the database went away");
        }
        await new Promise((r) => setTimeout(r, okDelayMs));
        return real.writeChunk(entity, rows);
      },
    });

  async function ingest(run: IngestRun, bodies: string[]): Promise<unknown> {
    let line = 1;
    try {
      for (const body of bodies) {
        parseLines("text", body, line, new Set(), run.sink);
        line += body.split("\n").length;
        await run.step();
      }
      await run.finish();
      return undefined;
    } catch (error) {
      return error;
    }
  }

  beforeAll(async () => {
    local = await startLocalNeon({ databaseUrl: await freshDatabase("nomnom_test_ingest_run"), migrationsDir: TEST_MIGRATIONS });
    real = insertWriter(database(settingsOf({ DATABASE_URL: LOCAL_CONNECTION_STRING, NEON_FETCH_ENDPOINT: local.url }), createDbIsolate()));
  });
  afterAll(async () => {
    await local?.close();
    neonConfig.fetchEndpoint = (host) => `https://${host}/sql`;
  });
  beforeEach(async () => void (await local.db.query({ query: "TRUNCATE customers", params: [] })));

  it("counts the later flush that committed when the earlier one failed after it", async () => {
    const run = new IngestRun(runner("A0", 150), { flushRows: 3 });
    const error = await ingest(run, [customers("A", 3), customers("B", 3), customers("C", 3)]);
    expect(error).toMatchObject({ code: "database_unavailable" });
    const totals = await run.abort();
    // Flush A failed, flush B was written meanwhile, flush C was never started.
    expect(await stored()).toBe(3);
    expect(totals).toMatchObject({ inserted: 3, duplicates: 0, processed: 3 });
  });

  it("reports the earlier flush's failure and counts its committed rows when the later one also failed", async () => {
    const run = new IngestRun(runner("B0", 10, 0), { flushRows: 3, limits: { maxRows: 1, maxChars: 1 << 20, concurrency: 1 } });
    const error = await ingest(run, [customers("A", 3), customers("B", 3), customers("C", 3)]);
    expect(error).toMatchObject({ code: "database_unavailable" });
    const totals = await run.abort();
    expect(await stored()).toBe(totals.inserted);
    expect(totals.inserted).toBeGreaterThanOrEqual(3);
  });

  it("counts flushes in order and ends with every row when nothing fails", async () => {
    const commits: number[] = [];
    const run = new IngestRun(runner("never", 0, 20), { flushRows: 2, onCommit: (t) => commits.push(t.inserted) });
    expect(await ingest(run, [customers("A", 2), customers("B", 2), customers("C", 2), customers("D", 1)])).toBeUndefined();
    expect(commits).toEqual([2, 4, 6, 7]);
    expect(await stored()).toBe(7);
  });
});
