/**
 * The service's tests run on their own entity set (test/project), whatever entities/ holds: the
 * registry they import is the test project's, and its migrations carry the service's own tables.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ENTITIES } from "../../src/registry.ts";
import { ENTITIES as TEST_REGISTRY } from "../project/src/generated/registry.ts";
import { root, TEST_MIGRATIONS } from "../support/test-project.ts";

/** The contents of a migrations folder's hand-written files (those without a snapshot), in order. */
function handWritten(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".sql") && !readdirSync(join(dir, "meta")).includes(`${f.slice(0, 4)}_snapshot.json`))
    .sort()
    .map((f) => readFileSync(join(dir, f), "utf8"));
}

describe("the test project", () => {
  it("is the registry the code under test imports (vitest.config.ts redirects src/generated)", () => {
    expect(ENTITIES).toBe(TEST_REGISTRY);
    expect(ENTITIES.map((e) => e.name)).toEqual(["Customer", "Order", "OrderLineItem", "Product"]);
  });

  it("has the service's own migrations, the same as the project's (add a new one to both)", () => {
    const own = handWritten(join(root, "migrations"));
    expect(own.length).toBeGreaterThan(0);
    expect(handWritten(TEST_MIGRATIONS)).toEqual(own);
  });
});
