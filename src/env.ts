/** The Worker's bindings and settings, parsed once with zod. */
import * as z from "zod/mini";
import type { StatsNamespace } from "./stats/stats-client.ts";

export interface Bindings {
  /** The Stats Durable Object namespace. */
  STATS?: StatsNamespace;
  /** A Neon connection string (a secret in production). */
  DATABASE_URL: string;
  /** Dev/test only: the local Neon-protocol endpoint, e.g. http://127.0.0.1:4444/sql. */
  NEON_FETCH_ENDPOINT?: string;
  MAX_BODY_BYTES?: string;
  MAX_LINE_BYTES?: string;
  MAX_ERRORS_REPORTED?: string;
  DB_TIMEOUT_MS?: string;
  STATS_ENABLED?: string;
  STATS_SHARDS?: string;
}

// zod/mini: the same checks as zod, a fraction of the bundle.
const positiveInt = (fallback: number) => z._default(z.coerce.number().check(z.int(), z.positive()), fallback);

const Settings = z.object({
  DATABASE_URL: z.string().check(z.regex(/^postgres(ql)?:\/\//, "DATABASE_URL must be a postgres:// connection string")),
  NEON_FETCH_ENDPOINT: z.optional(z.url()),
  MAX_BODY_BYTES: positiveInt(100 * 1024 * 1024),
  MAX_LINE_BYTES: positiveInt(1024 * 1024),
  MAX_ERRORS_REPORTED: positiveInt(1000),
  DB_TIMEOUT_MS: positiveInt(10_000),
  STATS_ENABLED: z._default(z.stringbool(), true),
  /** Stats Durable Objects written to at random and merged on read. */
  STATS_SHARDS: positiveInt(1),
});

export type Settings = z.infer<typeof Settings>;

let cached: { source: Bindings; settings: Settings } | undefined;

/** Settings from the bindings; parsed on first use, again only if the bindings object changes. */
export function settingsOf(env: Bindings): Settings {
  if (cached?.source !== env) cached = { source: env, settings: Settings.parse({ ...env, STATS: undefined }) };
  return cached.settings;
}
