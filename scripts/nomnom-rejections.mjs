// @ts-check
/**
 * nomnom rejections: the quarantine of rejected lines from the command line (docs/quarantine.md).
 *
 *   nomnom rejections list   --url URL [--key KEY] [--request-id ID] [--entity E] [--since T] [--until T] [--limit N] [--json]
 *   nomnom rejections show   ID --url URL [--key KEY]
 *   nomnom rejections replay --url URL [--key KEY] [filters as for list] [--dry-run]
 *
 * Exit codes: 0 done (replay: nothing still rejected), 1 replay left lines rejected,
 * 2 the server could not be reached or refused the request, 64 wrong usage.
 */
import { parseArgs } from "node:util";

const USAGE = `usage: nomnom rejections list --url URL [--key KEY] [--request-id ID] [--entity E] [--since T] [--until T] [--limit N] [--json]
       nomnom rejections show ID --url URL [--key KEY]
       nomnom rejections replay --url URL [--key KEY] [--request-id ID] [--entity E] [--since T] [--until T] [--dry-run]`;
const EXIT = { ok: 0, rejected: 1, unreachable: 2, usage: 64 };

/**
 * @param {string} message
 * @returns {never}
 */
function usage(message) {
  console.error(`nomnom: ${message}\n${USAGE}`);
  process.exit(EXIT.usage);
}

/**
 * @param {string} message
 * @returns {never}
 */
function fail(message) {
  console.error(`nomnom: ${message}`);
  process.exit(EXIT.unreachable);
}

function parse() {
  try {
    return parseArgs({
      args: process.argv.slice(3),
      allowPositionals: true,
      options: {
        url: { type: "string" },
        key: { type: "string" },
        "request-id": { type: "string" },
        entity: { type: "string" },
        since: { type: "string" },
        until: { type: "string" },
        limit: { type: "string" },
        json: { type: "boolean" },
        "dry-run": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    return usage(/** @type {Error} */ (error).message);
  }
}

const { values, positionals } = parse();
if (values.help) {
  console.log(USAGE);
  process.exit(EXIT.ok);
}
const [action, ...rest] = positionals;
if (!["list", "show", "replay"].includes(action ?? ""))
  usage(action ? `unknown rejections command ${action}` : "missing rejections command: list, show or replay");
if (action === "show" ? rest.length !== 1 : rest.length > 0)
  usage(action === "show" ? "show takes one rejection id" : `unexpected arguments: ${rest.join(" ")}`);
if (!values.url) usage("--url is required (e.g. --url http://localhost:8080)");
const base = values.url.replace(/\/+$/, "");

/** The filters given, as the routes' query parameters. */
const filters = new URLSearchParams();
for (const [option, parameter] of [
  ["request-id", "request_id"],
  ["entity", "entity"],
  ["since", "since"],
  ["until", "until"],
]) {
  const value = values[/** @type {"request-id" | "entity" | "since" | "until"} */ (option)];
  if (value !== undefined) filters.set(parameter, value);
}

/**
 * @param {string} path
 * @param {RequestInit} [init]
 */
async function call(path, init = {}) {
  let response;
  try {
    response = await fetch(base + path, { ...init, headers: { Accept: "application/json", ...(values.key ? { Authorization: `Bearer ${values.key}` } : {}) } });
  } catch (error) {
    return fail(`cannot reach ${base}: ${/** @type {Error} */ (error).cause ?? /** @type {Error} */ (error).message}`);
  }
  const text = await response.text();
  /** @type {any} */
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return fail(`the server answered ${response.status}: ${text.slice(0, 300)}`);
  }
  if (!response.ok) return fail(`the server answered ${response.status}: ${body.message ?? text.slice(0, 300)}`);
  return body;
}

/** @param {any} r */
function show(r) {
  const where = [`line ${r.line_number}`, r.entity, r.field && `field ${r.field}`].filter(Boolean).join(", ");
  console.log(`#${r.id}  ${r.received_at}  request ${r.request_id}${r.key ? `  key ${r.key}` : ""}${r.replayed_at ? `  replayed ${r.replayed_at}` : ""}`);
  console.log(`  ${where}: ${r.message}`);
  console.log(`  ${r.raw}${r.raw_truncated ? ` … (cut; ${r.raw_bytes} bytes received)` : ""}`);
}

if (action === "show") {
  if (!/^\d+$/.test(rest[0])) usage(`a rejection id is a number, got ${rest[0]}`);
  const r = await call(`/ingest/rejections/${rest[0]}`);
  if (values.json) console.log(JSON.stringify(r));
  else show(r);
} else if (action === "list") {
  const limit = values.limit ?? "100";
  if (!/^\d+$/.test(limit) || Number(limit) < 1) usage(`--limit must be a positive number, got ${limit}`);
  // Pages of at most 1,000 until the limit: a large quarantine is never read whole.
  let left = Number(limit);
  /** @type {string | null} */
  let cursor = null;
  let shown = 0;
  do {
    const query = new URLSearchParams(filters);
    query.set("limit", String(Math.min(left, 1000)));
    if (cursor) query.set("cursor", cursor);
    const page = await call(`/ingest/rejections?${query}`);
    for (const r of page.rejections) {
      if (values.json) console.log(JSON.stringify(r));
      else show(r);
    }
    shown += page.rejections.length;
    left -= page.rejections.length;
    cursor = page.next_cursor;
  } while (cursor && left > 0);
  if (!values.json) console.error(`${shown} rejection(s)${cursor ? `; more match (raise --limit)` : ""}`);
} else {
  const query = new URLSearchParams(filters);
  if (values["dry-run"]) query.set("dry_run", "true");
  const totals = { replayed: 0, inserted: 0, duplicates: 0, still_rejected: 0 };
  /** @type {string | null} */
  let cursor = null;
  do {
    // The cursor moves past each page, so a line still rejected is not counted twice.
    if (cursor) query.set("cursor", cursor);
    const answer = await call(`/ingest/rejections/replay?${query}`, { method: "POST" });
    for (const key of /** @type {(keyof typeof totals)[]} */ (Object.keys(totals))) totals[key] += answer[key];
    for (const e of answer.errors) console.error(`#${e.id} line ${e.line_number}${e.entity ? ` ${e.entity}` : ""}: ${e.message}`);
    cursor = answer.next_cursor;
  } while (cursor);
  const verb = values["dry-run"] ? "would be replayed (dry run, nothing written)" : "replayed";
  console.log(`${totals.replayed} ${verb}: ${totals.inserted} inserted, ${totals.duplicates} duplicates; ${totals.still_rejected} still rejected`);
  process.exit(totals.still_rejected > 0 ? EXIT.rejected : EXIT.ok);
}
process.exit(EXIT.ok);
