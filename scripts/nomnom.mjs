#!/usr/bin/env node
// @ts-check
/**
 * nomnom: the command-line client. Streams a file or standard input, gzip-compressed, to
 * /ingest/stream and follows its Server-Sent Events.
 *
 *   nomnom ingest [file | -] --url http://localhost:8080 [--key KEY] [--format text|ndjson] [--no-gzip]
 *
 * Exit codes: 0 every line written (or a duplicate), 1 some lines were rejected,
 * 2 the server could not be reached, refused the request or stopped the stream, 64 wrong usage
 * (also a malformed --url), 66 the input file is missing or unreadable (sysexits' EX_NOINPUT).
 * Plain JavaScript so it runs on any Node.js ≥ 20, without a build step.
 */
import { accessSync, constants, createReadStream, statSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { Transform } from "node:stream";
import { parseArgs } from "node:util";
import { createGzip } from "node:zlib";
import { createParser } from "eventsource-parser";

// nomnom rejections list|show|replay: the quarantine (docs/quarantine.md), in its own module; it exits when done.
if (process.argv[2] === "rejections") await import("./nomnom-rejections.mjs");

const USAGE = "usage: nomnom ingest [file | -] --url URL [--key KEY] [--format text|ndjson] [--no-gzip]";
const EXIT = { ok: 0, rejected: 1, unreachable: 2, usage: 64, noInput: 66 };
/** Failures no retry can fix: nothing listens there, or the name does not resolve. */
const FINAL = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ERR_INVALID_URL"]);
const RETRIES = 3;

/**
 * @param {string} message
 * @returns {never}
 */
function usage(message) {
  console.error(`nomnom: ${message}\n${USAGE}`);
  process.exit(EXIT.usage);
}

function parseCommandLine() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        url: { type: "string" },
        key: { type: "string" },
        format: { type: "string" },
        "no-gzip": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    return usage(/** @type {Error} */ (error).message);
  }
}

const { values, positionals } = parseCommandLine();
if (values.help) {
  console.log(USAGE);
  process.exit(EXIT.ok);
}
const [command, input = "-", ...extra] = positionals;
if (command !== "ingest") usage(command ? `unknown command ${command}` : "missing command");
if (extra.length > 0) usage(`unexpected arguments: ${extra.join(" ")}`);
if (!values.url) usage("--url is required (e.g. --url http://localhost:8080)");
const format = values.format ?? (/\.(nd)?jsonl?$/.test(input) ? "ndjson" : "text");
if (format !== "text" && format !== "ndjson") usage(`--format must be text or ndjson, got ${format}`);

const endpoint = parseUrl(values.url);
const fromFile = input !== "-";
const totalBytes = fromFile ? readableSize(input) : undefined;
const tty = Boolean(process.stderr.isTTY);
const started = Date.now();
let bytesRead = 0;
let lastPlain = 0;

/**
 * The stream endpoint under a base URL; wrong usage when it is not an http(s) URL.
 * @param {string} url
 */
function parseUrl(url) {
  let parsed;
  try {
    parsed = new URL(url.replace(/\/+$/, "").replace(/\/ingest\/stream$/, "") + "/ingest/stream");
  } catch {
    parsed = undefined;
  }
  if (parsed?.protocol === "http:" || parsed?.protocol === "https:") return parsed;
  console.error(`nomnom: --url must be an http:// or https:// URL, got ${JSON.stringify(url)}`);
  return process.exit(EXIT.usage);
}

/**
 * The input file's size, or exit 66 naming the file and why it cannot be read.
 * @param {string} path
 * @returns {number}
 */
function readableSize(path) {
  try {
    const stats = statSync(path);
    if (stats.isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR" });
    accessSync(path, constants.R_OK);
    return stats.size;
  } catch (error) {
    console.error(`nomnom: cannot read ${path}: ${reason(error)}`);
    return process.exit(EXIT.noInput);
  }
}

/**
 * A system error in words: "no such file or directory", "connection refused", …
 * @param {unknown} error
 */
function reason(error) {
  const code = /** @type {NodeJS.ErrnoException} */ (error).code;
  const words = {
    ENOENT: "no such file or directory",
    EACCES: "permission denied",
    EISDIR: "is a directory",
    ECONNREFUSED: "connection refused (is the server running, and is --url right?)",
    ECONNRESET: "connection reset",
    ENOTFOUND: "host not found",
    EAI_AGAIN: "host not found (name resolution failed)",
    ETIMEDOUT: "timed out",
  };
  return (code && words[/** @type {keyof typeof words} */ (code)]) ?? /** @type {Error} */ (error).message;
}

/** @param {number} n */
const num = (n) => n.toLocaleString("en-US");

/** @param {{processed: number, inserted: number, duplicates: number, failed: number}} p */
function showProgress(p, final = false) {
  const seconds = Math.max((Date.now() - started) / 1000, 0.001);
  const rate = `${num(Math.round(p.processed / seconds))} lines/s`;
  const counts = `inserted ${num(p.inserted)}  duplicates ${num(p.duplicates)}  failed ${num(p.failed)}`;
  if (tty) {
    const share = totalBytes ? Math.min(bytesRead / totalBytes, 1) : undefined;
    const bar = share === undefined ? "" : `sent [${"#".repeat(Math.round(share * 24)).padEnd(24, ".")}] ${Math.round(share * 100)}%  `;
    process.stderr.write(`\r\x1b[2K${bar}${num(p.processed)} lines  ${rate}  ${counts}${final ? "\n" : ""}`);
  } else if (final || Date.now() - lastPlain >= 2000) {
    lastPlain = Date.now();
    console.error(`progress: ${num(p.processed)} lines, ${rate}, ${counts}`);
  }
}

/** Sends the input once; resolves with an exit code, or rejects when no response came at all. */
function send() {
  return new Promise((resolve, reject) => {
    const gzip = !values["no-gzip"];
    const headers = {
      "Content-Type": format === "ndjson" ? "application/x-ndjson" : "text/plain; charset=utf-8",
      ...(gzip ? { "Content-Encoding": "gzip" } : {}),
      // A file's length lets the server tell a body cut off from a whole one (gzip's trailer does that for a compressed body).
      ...(fromFile && !gzip ? { "Content-Length": String(statSync(input).size) } : {}),
      ...(values.key ? { Authorization: `Bearer ${values.key}` } : {}),
    };
    const request = (endpoint.protocol === "https:" ? https : http).request(endpoint, { method: "POST", headers });
    let responded = false;
    request.on("error", (error) => (responded ? resolve(fail(`connection lost: ${error.message}`)) : reject(error)));
    request.on("response", (response) => {
      responded = true;
      if (response.statusCode !== 200 || !String(response.headers["content-type"]).startsWith("text/event-stream")) {
        let body = "";
        response.on("data", (d) => (body += d));
        response.on("end", () => resolve(fail(`the server answered ${response.statusCode}: ${body.slice(0, 500)}`)));
        return;
      }
      let outcome = /** @type {number | undefined} */ (undefined);
      const parser = createParser({
        onEvent(event) {
          const data = JSON.parse(event.data);
          if (event.event === "rejected") {
            if (tty) process.stderr.write("\r\x1b[2K");
            console.error(`line ${data.line_number}: ${data.entity ? `${data.entity}: ` : ""}${data.message}`);
          } else if (event.event === "progress") showProgress(data);
          else if (event.event === "summary") {
            if (tty) showProgress({ ...data, processed: data.total }, true);
            console.log(
              `${data.status}: ${num(data.total)} lines, ${num(data.inserted)} inserted, ${num(data.duplicates)} duplicates, ${num(data.failed)} failed in ${(data.duration_ms / 1000).toFixed(1)} s`,
            );
            outcome = data.failed > 0 ? EXIT.rejected : EXIT.ok;
          } else if (event.event === "failure") {
            outcome = fail(
              `the server stopped: ${data.message} (committed so far: ${num(data.committed.inserted)} inserted, ${num(data.committed.duplicates)} duplicates)`,
            );
          }
        },
      });
      response.setEncoding("utf8");
      response.on("data", (chunk) => parser.feed(chunk));
      response.on("end", () => resolve(outcome ?? fail("the stream ended without a summary")));
      response.on("error", (error) => resolve(fail(`connection lost: ${error.message}`)));
    });
    const source = fromFile ? createReadStream(input) : process.stdin;
    source.on("error", (/** @type {Error} */ error) => {
      request.destroy();
      console.error(`nomnom: cannot read ${fromFile ? input : "standard input"}: ${reason(error)}`);
      process.exit(EXIT.noInput);
    });
    const counter = new Transform({
      transform(chunk, _encoding, done) {
        bytesRead += chunk.length;
        done(null, chunk);
      },
    });
    const body = source.pipe(counter);
    (gzip ? body.pipe(createGzip()) : body).pipe(request);
  });
}

/** @param {string} message */
function fail(message) {
  if (tty) process.stderr.write("\n");
  console.error(`nomnom: ${message}`);
  return EXIT.unreachable;
}

/**
 * A connection that fails before any answer is retried only for a file, which can be sent again;
 * replaying is safe because natural keys make the server insert nothing twice.
 */
async function main() {
  for (let attempt = 1; ; attempt++) {
    try {
      process.exit(await send());
    } catch (error) {
      const why = reason(error);
      const code = /** @type {NodeJS.ErrnoException} */ (error).code ?? "";
      if (FINAL.has(code) || !fromFile || attempt > RETRIES) {
        process.exit(fail(`cannot reach ${endpoint.origin}: ${why}${fromFile && attempt > 1 ? ` (after ${attempt - 1} retries)` : ""}`));
      }
      const wait = 500 * 2 ** (attempt - 1);
      console.error(`nomnom: cannot reach ${endpoint.origin} (${why}); retrying in ${wait} ms (safe: natural keys make a replay insert nothing twice)`);
      bytesRead = 0;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

await main();
