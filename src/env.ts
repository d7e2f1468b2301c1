/**
 * The Worker's settings: every default is stated here, once. wrangler.toml's [vars] (or the
 * dashboard) override them; the bindings themselves are typed by `npm run types` (src/worker-env.d.ts).
 */
import * as z from "zod/mini";
import { MAX_ERRORS_LISTED } from "./limits/caps.ts";

// zod/mini: the same checks as zod, a fraction of the bundle.
const positiveInt = (fallback: number) => z._default(z.coerce.number().check(z.int(), z.positive()), fallback);

const Settings = z.object({
  DATABASE_URL: z.string().check(z.regex(/^postgres(ql)?:\/\//, "DATABASE_URL must be a postgres:// connection string")),
  NEON_FETCH_ENDPOINT: z.optional(z.url()),
  /** How bulk writes reach the database: "copy" (COPY over Neon's WebSocket protocol) or "insert" (INSERT over HTTP). Unset: COPY, except against a local endpoint without NEON_WS_PROXY (PGlite cannot COPY through a socket). */
  BULK_WRITER: z.optional(z.enum(["copy", "insert"])),
  /** Dev/test only: the local WebSocket endpoint as neonConfig.wsProxy takes it (host:port/path, no scheme), e.g. 127.0.0.1:4445/v2. */
  NEON_WS_PROXY: z.optional(z.string().check(z.regex(/^[^/:]+:\d+(\/.*)?$/, "NEON_WS_PROXY must be host:port/path, without a scheme"))),
  MAX_BODY_BYTES: positiveInt(100 * 1024 * 1024),
  MAX_LINE_BYTES: positiveInt(1024 * 1024),
  MAX_ERRORS_REPORTED: positiveInt(MAX_ERRORS_LISTED),
  DB_TIMEOUT_MS: positiveInt(10_000),
  /** Transient database failures are retried, with backoff, for this long per statement; then 503 (0: no retries). */
  DB_RETRY_MS: z._default(z.coerce.number().check(z.int(), z.nonnegative()), 15_000),
  /** /health remembers its database check this long per isolate (0: checks on every call). */
  /** A request body that sends nothing for this long is ended: 408, or a failure event on a stream. */
  BODY_IDLE_TIMEOUT_MS: positiveInt(30_000),
  /** Streams one API key (anonymous: one client address) may have open at once, across all isolates. */
  MAX_STREAMS_PER_KEY: positiveInt(8),
  HEALTH_CACHE_MS: z._default(z.coerce.number().check(z.int(), z.nonnegative()), 5000),
  STATS_ENABLED: z._default(z.stringbool(), true),
  /** Stats Durable Objects written to at random and merged on read. */
  STATS_SHARDS: positiveInt(1),
  /** An isolate sums its requests' stats and sends them at most this often (0: after each request). */
  STATS_FLUSH_MS: z._default(z.coerce.number().check(z.int(), z.nonnegative()), 1000),
  /** Requests without a key get every scope: for npm run dev and tests, never a deployment by default. */
  ALLOW_ANONYMOUS: z._default(z.stringbool(), false),
  MAX_BATCH_ITEMS: positiveInt(10_000),
  /** A batch is held whole until it is written, and a JSON document read whole: this caps both. */
  MAX_BATCH_BYTES: positiveInt(16 * 1024 * 1024),
  /** Comma-separated origins allowed by CORS; empty: CORS off. */
  CORS_ORIGINS: z._default(z.string(), ""),
  /** The [[ratelimits]] binding's numbers, repeated here because the binding cannot be asked for them. */
  RATE_LIMIT: positiveInt(10_000),
  /** When the database stays unreachable, synchronous batches and messages go to the queue (202) instead of a 503. */
  ASYNC_FALLBACK: z._default(z.stringbool(), true),
  /** A failed queue message waits this long before its second try, doubled for each later one (at most 12 hours). */
  QUEUE_RETRY_DELAY_S: z._default(z.coerce.number().check(z.int(), z.nonnegative()), 10),
  /** Attempts at a queued part before it is parked (kept until the database answers); below the consumer's max_retries in wrangler.toml. */
  QUEUE_MAX_RETRIES: positiveInt(8),
  /** An Idempotency-Key is remembered this long; the Cron Trigger deletes older ones. */
  IDEMPOTENCY_TTL_HOURS: positiveInt(24),
  /** A rejected line is kept up to this many bytes in the quarantine, and flagged when cut. */
  QUARANTINE_RAW_BYTES: positiveInt(64 * 1024),
  /** Rejected lines kept per request; the rest are counted, and the answer says how many. */
  QUARANTINE_MAX_PER_REQUEST: positiveInt(10_000),
  /** The Cron Trigger deletes rejections older than this. */
  QUARANTINE_RETENTION_DAYS: positiveInt(30),
  RATE_LIMIT_PERIOD: z._default(z.coerce.number().check(z.refine((n) => n === 10 || n === 60, "RATE_LIMIT_PERIOD must be 10 or 60")), 10),
});

export type Settings = z.infer<typeof Settings>;

let cached: { source: object; settings: Settings } | undefined;

/** Settings from the Worker's environment (bindings that are not settings are ignored); parsed on first use, again only if the object changes. */
export function settingsOf(env: object): Settings {
  if (cached?.source !== env) cached = { source: env, settings: Settings.parse(env) };
  return cached.settings;
}
