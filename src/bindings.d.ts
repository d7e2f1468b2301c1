// What wrangler.toml cannot list, so `npm run types` cannot generate: the secrets (`wrangler secret put`),
// and the settings, which are [vars] only where a deployment changes a default (src/env.ts states them).
declare namespace Cloudflare {
  interface Env extends SettingVars {
    /** A Neon connection string. */
    DATABASE_URL: string;
    /** JSON list of {id, sha256, scopes} (src/auth/api-keys.ts); unset in `npm run dev`, which allows anonymous access. */
    API_KEYS?: string;
  }
}
type SettingVars = { [Name in keyof import("./env.ts").Settings]?: string };
interface Env extends Cloudflare.Env {}
