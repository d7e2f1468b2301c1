/// <reference types="@cloudflare/vitest-plugin/types" />

// The Worker's own bindings come from src/generated/worker-env.d.ts; these are the tests' extras.
declare namespace Cloudflare {
  interface Env {
    NEON_FETCH_ENDPOINT?: string;
    STRICT_LIMITER: RateLimit;
  }
}

declare module "*?raw" {
  const text: string;
  export default text;
}
