/**
 * The environment of every `wrangler dev` this project starts (npm run dev, the benchmark's Workers).
 * No metrics and no Cloudflare lookups: there may be no internet.
 * No local trace capture unless asked for (X_LOCAL_OBSERVABILITY=true): since wrangler 4.118.0
 * (workers-sdk #14944) `wrangler dev` streams every invocation's spans and console lines to a
 * collector that writes them to SQLite (the Local Explorer's Observability tab), in the Worker's own
 * workerd process, with about two fsyncs a request: 0.47 ms of workerd CPU a message at full speed
 * and 1.85 ms paced at 100/s (docs/benchmarks.md, 2026-12-07). Deployed Workers pay nothing of it.
 */
export const wranglerEnv = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
  X_LOCAL_OBSERVABILITY: "false",
  ...env,
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
});
