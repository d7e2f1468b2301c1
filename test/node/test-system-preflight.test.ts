/** `npm run test:system` on a machine without its tools: it stops before any test and names each tool and its Debian package. */
import { spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { expect, it } from "vitest";
import { root } from "../support/dev-stack.ts";

it("names promtool, Chromium, PgBouncer and PostgreSQL with the Debian package of each when they are missing", async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  const databaseUrl = `postgres://postgres@127.0.0.1:${port}/test`;

  const run = spawnSync(process.execPath, ["scripts/test-system.ts"], {
    cwd: root,
    encoding: "utf8",
    env: { PATH: "/nonexistent", CHROMIUM_PATH: "/nonexistent/chromium", PGBOUNCER: "/nonexistent/pgbouncer", TEST_DATABASE_URL: databaseUrl },
  });
  expect(run.status).toBe(1);
  expect(run.stdout).toBe("");
  expect(run.stderr.trim().split("\n")).toEqual([
    "test:system: promtool (checks /metrics) is not on PATH: install Debian's package with `apt-get install prometheus`",
    "test:system: Chromium (drives /docs and /dashboard) is not at /nonexistent/chromium: install Debian's package with `apt-get install chromium`",
    "test:system: PgBouncer (Neon's -pooler host, for the system-pgbouncer tests) is not at /nonexistent/pgbouncer: install Debian's package with `apt-get install pgbouncer`",
    `test:system: PostgreSQL is not reachable at ${databaseUrl} (connect ECONNREFUSED 127.0.0.1:${port}): install Debian's package with \`apt-get install postgresql\`, start it, or set TEST_DATABASE_URL`,
  ]);
});
