/** The Worker under test is built on the test entity set (test/project), not on the user's entities/ (vitest.config.ts). */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ENTITIES } from "../../src/registry.ts";
import { ENTITIES as TEST_REGISTRY } from "../project/src/generated/registry.ts";

describe("the Worker under test", () => {
  it("uses the test project's registry", () => {
    expect(ENTITIES).toBe(TEST_REGISTRY);
    expect(ENTITIES.map((e) => e.prefix)).toEqual(["C", "O", "L", "P"]);
    expect(env.NEON_FETCH_ENDPOINT).toBeDefined();
  });
});
