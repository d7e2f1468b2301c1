/// <reference types="@cloudflare/vitest-plugin/types" />

declare namespace Cloudflare {
  interface Env {
    DATABASE_URL: string;
    NEON_FETCH_ENDPOINT?: string;
    STRICT_LIMITER: RateLimit;
    STATS: DurableObjectNamespace<import("../../src/stats/stats-object.ts").StatsObject>;
  }
}

declare module "*?raw" {
  const text: string;
  export default text;
}
