/**
 * The HTTP side's per-isolate caches, made once per isolate by their factories: the parsed and
 * verified API keys, and the stats not yet sent. The composition root (compose.ts) is where they belong.
 */
import { keyCache } from "../auth/api-keys.ts";
import { statsBuffer } from "../stats/stats-client.ts";

export const isolateCaches = { keys: keyCache(), stats: statsBuffer() };
