import { basename, dirname, resolve } from "node:path";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";
import { LOCAL_CONNECTION_STRING } from "./scripts/local-neon/start.ts";
import { freePort } from "./test/support/free-port.ts";

const root = import.meta.dirname;
const GENERATED = resolve(root, "src/generated");
const TEST_GENERATED = resolve(root, "test/project/src/generated");

/**
 * The tests run on their own entity set (test/project, the TPC-H entities), not on the user's entities/:
 * every import of src/generated/{registry,tables,schemas}.ts resolves to test/project/src/generated instead.
 * So `npm test` passes after `npm run reset-project` and with any valid entities.
 */
const testProjectRegistry = (): Plugin => ({
  name: "nomnom-test-project-registry",
  enforce: "pre",
  resolveId(source, importer) {
    if (!importer || !source.startsWith(".")) return null;
    const target = resolve(dirname(importer.replace(/^\/@fs/, "").split("?")[0]), source);
    if (dirname(target) !== GENERATED || !/^(registry|tables|schemas)\.ts$/.test(basename(target))) return null;
    return resolve(TEST_GENERATED, basename(target));
  },
});

/** The local Neon endpoint the Worker tests start (test/worker/global-setup.ts) and the Worker calls. */
const TEST_NEON_URL = process.env.TEST_NEON_URL ?? `http://127.0.0.1:${await freePort()}/sql`;
/** The worker-copy project's own endpoints: HTTP, and the WebSocket one its COPY writer uses. */
const TEST_NEON_COPY_URL = `http://127.0.0.1:${await freePort()}/sql`;
const TEST_NEON_WS_PROXY = `127.0.0.1:${await freePort()}/v2`;
/** The pooled projects' endpoints (over PgBouncer): the INSERT writer's, and the COPY writer's HTTP and WebSocket ones. */
const TEST_NEON_POOLED_URL = `http://127.0.0.1:${await freePort()}/sql`;
const TEST_NEON_POOLED_COPY_URL = `http://127.0.0.1:${await freePort()}/sql`;
const TEST_NEON_POOLED_WS_PROXY = `127.0.0.1:${await freePort()}/v2`;

/** The Worker test files that write in bulk: run again with the COPY writer, and through PgBouncer. */
const BULK_WORKER_FILES = "test/worker/{reliability,batch,stream,tenancy,neon-errors,quarantine,async}.test.ts";

/** The Worker under test: wrangler.toml with test bindings (the endpoint's URL, writer choice). */
const workerUnderTest = (bindings: Record<string, string>) =>
  cloudflareTest({
    wrangler: { configPath: "./wrangler.toml" },
    miniflare: {
      // HEALTH_CACHE_MS 0: tests change the database and ask /health at once (test/worker/health.test.ts checks the cache).
      bindings: {
        DATABASE_URL: LOCAL_CONNECTION_STRING,
        ALLOW_ANONYMOUS: "true",
        QUEUE_RETRY_DELAY_S: "0",
        QUEUE_MAX_RETRIES: "2",
        HEALTH_CACHE_MS: "0",
        ...bindings,
      },
      // Fewer attempts than production, so a part is parked within a test's time (max_retries stays above QUEUE_MAX_RETRIES).
      queueConsumers: {
        "nomnom-ingest": { maxBatchTimeout: 1, maxRetries: 4, deadLetterQueue: "nomnom-ingest-dlq" },
        "nomnom-ingest-dlq": { maxBatchTimeout: 1 },
      },
      // Tests send far more than a real client would; STRICT_LIMITER is the one the 429 tests use.
      ratelimits: {
        RATE_LIMITER: { namespace_id: "1001", simple: { limit: 1_000_000, period: 60 } },
        STRICT_LIMITER: { namespace_id: "1002", simple: { limit: 3, period: 60 } },
      },
    },
  });

export default defineConfig({
  test: {
    reporters: ["default", "./test/support/summary-reporter.ts"],
    // Request logs are one JSON line each: shown for failing tests only.
    silent: "passed-only",
    projects: [
      {
        plugins: [testProjectRegistry()],
        test: {
          name: "node",
          include: ["test/node/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        // Needs promtool and Chromium: run by `npm run test:system` (scripts/test-system.ts), not `npm test`.
        plugins: [testProjectRegistry()],
        test: {
          name: "system",
          include: ["test/system/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        // The COPY writer, its staging path and the INSERT writer again, through PgBouncer in transaction
        // mode (Neon's -pooler host). Needs PostgreSQL and pgbouncer: run by `npm run test:system`.
        plugins: [testProjectRegistry()],
        test: {
          name: "system-pgbouncer",
          include: ["test/system/copy-writer.test.ts"],
          globalSetup: ["test/system/pgbouncer-setup.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        plugins: [testProjectRegistry(), workerUnderTest({ NEON_FETCH_ENDPOINT: TEST_NEON_URL })],
        test: {
          name: "worker",
          include: ["test/worker/**/*.test.ts"],
          globalSetup: ["test/worker/global-setup.ts"],
          env: { NEON_FETCH_ENDPOINT: TEST_NEON_URL },
          // One database for all Worker test files: they truncate it, so they take turns.
          fileParallelism: false,
          testTimeout: 60_000,
        },
      },
      {
        // The Worker test files that write in bulk, again with the COPY writer (BULK_WRITER=copy over the
        // local WebSocket endpoint). Run by `npm test` over PGlite (scripts/local-neon/pglite-wire.ts answers
        // COPY FROM STDIN), and by `npm run test:system` over PostgreSQL (TEST_DATABASE_URL).
        plugins: [testProjectRegistry(), workerUnderTest({ NEON_FETCH_ENDPOINT: TEST_NEON_COPY_URL, NEON_WS_PROXY: TEST_NEON_WS_PROXY, BULK_WRITER: "copy" })],
        test: {
          name: "worker-copy",
          include: [BULK_WORKER_FILES, "test/worker-copy/**/*.test.ts"],
          globalSetup: ["test/worker/global-setup.ts"],
          env: { NEON_FETCH_ENDPOINT: TEST_NEON_COPY_URL, NEON_WS_PROXY: TEST_NEON_WS_PROXY },
          fileParallelism: false,
          testTimeout: 60_000,
        },
      },
      {
        // The bulk files with the INSERT writer (Neon's HTTP API), the endpoint's database reached through
        // PgBouncer in transaction mode, as Neon's -pooler host (global-setup.ts). Run by `npm run test:system`.
        plugins: [testProjectRegistry(), workerUnderTest({ NEON_FETCH_ENDPOINT: TEST_NEON_POOLED_URL, BULK_WRITER: "insert" })],
        test: {
          name: "worker-pgbouncer",
          include: [BULK_WORKER_FILES],
          globalSetup: ["test/worker/global-setup.ts"],
          env: { NEON_FETCH_ENDPOINT: TEST_NEON_POOLED_URL, TEST_PGBOUNCER: "1" },
          fileParallelism: false,
          testTimeout: 60_000,
        },
      },
      {
        // The same with the COPY writer and its staging path: the WebSocket endpoint passes through to PgBouncer.
        plugins: [
          testProjectRegistry(),
          workerUnderTest({ NEON_FETCH_ENDPOINT: TEST_NEON_POOLED_COPY_URL, NEON_WS_PROXY: TEST_NEON_POOLED_WS_PROXY, BULK_WRITER: "copy" }),
        ],
        test: {
          name: "worker-copy-pgbouncer",
          include: [BULK_WORKER_FILES, "test/worker-copy/**/*.test.ts"],
          globalSetup: ["test/worker/global-setup.ts"],
          env: { NEON_FETCH_ENDPOINT: TEST_NEON_POOLED_COPY_URL, NEON_WS_PROXY: TEST_NEON_POOLED_WS_PROXY, TEST_PGBOUNCER: "1" },
          fileParallelism: false,
          testTimeout: 60_000,
        },
      },
    ],
  },
});
