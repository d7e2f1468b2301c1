#!/usr/bin/env node
// @ts-check
/**
 * nomnom: the command-line client, on nomnom-edge/client's stream(). Streams a file or standard
 * input to /ingest/stream, gzip-compressed (a gzip file or pipe, recognised by its first bytes, is
 * sent as it is), and follows its Server-Sent Events.
 *
 *   nomnom ingest [file | -] --url http://localhost:8080 [--key KEY] [--format text|ndjson] [--from-line N]
 *
 * The key may come from NOMNOM_KEY instead of --key: it then stays out of the resume command printed.
 * Exit codes: 0 every line written (or a duplicate), 1 some lines were rejected, 2 the server could
 * not be reached, refused the request or stopped the stream, 3 the connection was lost during the
 * stream, 64 wrong usage (also a malformed --url), 66 the input file is missing or unreadable
 * (sysexits' EX_NOINPUT), 130 interrupted (Ctrl-C: the first stops sending at a line's end and waits
 * for the server's count, a second leaves at once). After 2 (a stopped stream), 3 and 130 it prints
 * the last line the server committed and the command that resumes after it (--from-line).
 * Plain JavaScript so it runs on any Node.js ≥ 20, without a build step.
 */
import { accessSync, constants, createReadStream, statSync } from "node:fs";
import { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { createGunzip } from "node:zlib";
import { NomnomClient, NomnomError } from "../client/index.mjs";

// nomnom rejections list|show|replay: the quarantine (docs/quarantine.md), in its own module; it exits when done.
if (process.argv[2] === "rejections") await import("./nomnom-rejections.mjs");

const USAGE = "usage: nomnom ingest [file | -] --url URL [--key KEY] [--format text|ndjson] [--from-line N]";
const EXIT = { ok: 0, rejected: 1, unreachable: 2, connectionLost: 3, usage: 64, noInput: 66, interrupted: 130 };

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
        "from-line": { type: "string" },
        // Kept for scripts that pass it: the upload is always compressed now, so it changes nothing.
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
const format = values.format ?? (/\.(nd)?jsonl?(\.gz)?$/.test(input) ? "ndjson" : "text");
if (format !== "text" && format !== "ndjson") usage(`--format must be text or ndjson, got ${format}`);
const lineFormat = /** @type {"text" | "ndjson"} */ (format);
const fromLine = values["from-line"] === undefined ? 1 : Number(values["from-line"]);
if (!Number.isSafeInteger(fromLine) || fromLine < 1) usage(`--from-line must be a line number (1 or more), got ${values["from-line"]}`);

const client = makeClient(values.url);
const fromFile = input !== "-";
const totalBytes = fromFile ? readableSize(input) : undefined;
const tty = Boolean(process.stderr.isTTY);
const started = Date.now();
let bytesRead = 0;
let lastPlain = 0;
/**
 * Ctrl-C once: no more lines are sent, the body ends at a line's end, and the server's summary
 * counts exactly what it got (a gzip input sent as it is cannot be cut: that stops at once).
 */
const stop = { asked: false, cuttable: false, cut: false };

/** @param {string} url */
function makeClient(url) {
  try {
    return new NomnomClient({ url: url.replace(/\/+$/, "").replace(/\/ingest\/stream$/, ""), key: values.key ?? process.env.NOMNOM_KEY });
  } catch {
    console.error(`nomnom: --url must be an http:// or https:// URL, got ${JSON.stringify(url)}`);
    return process.exit(EXIT.usage);
  }
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

/**
 * Which physical line each message is, as the server counts them (parse-messages.ts' forEachLine:
 * blank, whitespace-only and # comment lines are not messages), so a count of committed messages
 * becomes a line to resume after. Fed the input's bytes (decompressed), it keeps only the skipped lines.
 */
class MessageLines {
  /** @param {number} firstLine */
  constructor(firstLine) {
    this.firstLine = firstLine;
    this.messages = 0;
    /** Messages seen before each skipped line. @type {number[]} */
    this.skips = [];
    this.length = 0;
    this.first = -1;
    /** The bytes of a line that starts with a control or space character: decoded to tell if it is blank. @type {Uint8Array[]} */
    this.pending = [];
  }

  /** @param {Uint8Array} bytes */
  feed(bytes) {
    for (let start = 0; ; ) {
      const newline = bytes.indexOf(10, start);
      const end = newline < 0 ? bytes.length : newline;
      if (end > start) {
        if (this.length === 0) this.first = bytes[start];
        if (this.first <= 32) this.pending.push(bytes.slice(start, end));
        this.length += end - start;
      }
      if (newline < 0) return;
      this.endLine();
      start = newline + 1;
    }
  }

  endLine() {
    const blank =
      this.length === 0 || this.first === 35 || (this.first <= 32 && Buffer.concat(this.pending).toString("utf8").replace(/\r$/, "").trim().length === 0);
    if (blank) this.skips.push(this.messages);
    else this.messages++;
    this.length = 0;
    this.pending = [];
  }

  /** The input ended: a last line without a newline is a line too. */
  end() {
    if (this.length > 0) this.endLine();
  }

  /**
   * The physical line of message `n` (1-based), counted from the first line sent.
   * @param {number} n
   */
  lineOf(n) {
    return this.firstLine - 1 + n + this.skips.filter((before) => before < n).length;
  }
}

/**
 * The input as bytes for client.stream(): a gzip input (by its first two bytes) as it is, else as read;
 * from --from-line on, the lines before it left out (a gzip input then read decompressed, and sent as
 * text, which the client compresses). Every byte also reaches `lines`, decompressed, to number the messages.
 * @param {MessageLines} lines
 */
async function* inputBytes(lines) {
  const source = fromFile ? createReadStream(input) : process.stdin;
  const chunks = source[Symbol.asyncIterator]();
  const first = await chunks.next();
  async function* read() {
    if (first.done) return;
    bytesRead += first.value.length;
    yield/** @type {Buffer} */ (first.value);
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
      bytesRead += next.value.length;
      yield/** @type {Buffer} */ (next.value);
    }
  }
  const gzip = !first.done && first.value[0] === 0x1f && first.value[1] === 0x8b;
  let skip = fromLine - 1;
  /** What of `text` is sent: from --from-line on, and after Ctrl-C up to its last line's end. @param {Buffer} text */
  const take = (text) => {
    while (skip > 0 && text.length > 0) {
      const newline = text.indexOf(10);
      text = newline < 0 ? text.subarray(text.length) : text.subarray(newline + 1);
      if (newline >= 0) skip--;
    }
    if (stop.asked) {
      stop.cut = true;
      text = text.subarray(0, text.lastIndexOf(10) + 1);
    }
    lines.feed(text);
    return text;
  };
  if (gzip && skip === 0) {
    // Sent as it is; a copy is decompressed only to number the lines.
    const counter = createGunzip();
    counter.on("data", (text) => lines.feed(text));
    const ended = new Promise((resolve) => counter.on("end", resolve).on("error", resolve));
    for await (const chunk of read()) {
      counter.write(chunk);
      yield chunk;
    }
    counter.end();
    await ended;
  } else {
    stop.cuttable = true;
    const texts = gzip ? Readable.from(read()).pipe(createGunzip()) : read();
    for await (const text of texts) {
      const rest = take(text);
      if (rest.length > 0) yield rest;
      if (stop.cut) break;
    }
  }
  lines.end();
}

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

/** @param {string} message */
function fail(message, code = EXIT.unreachable) {
  if (tty) process.stderr.write("\n");
  console.error(`nomnom: ${message}`);
  return code;
}

/** @param {string} arg */
const shellQuote = (arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`);

/**
 * Says how far the server got, and the command that goes on from there. Not `exact`: the last count
 * the server sent before the connection ended; it may have committed more since, which resuming
 * sends again as duplicates (natural keys), never twice.
 * @param {MessageLines} lines
 * @param {number} committed messages the server had committed
 * @param {boolean} exact
 */
function resumeHint(lines, committed, exact) {
  const next = committed === 0 ? fromLine : lines.lineOf(committed) + 1;
  const args = process.argv.slice(2);
  const at = args.findIndex((arg) => arg === "--from-line" || arg.startsWith("--from-line="));
  if (at >= 0) args.splice(at, args[at].includes("=") ? 1 : 2);
  const resume = ["nomnom", ...args, "--from-line", String(next)].map(shellQuote).join(" ");
  const range = committed === 0 ? "no line" : `lines ${num(fromLine)} to ${num(lines.lineOf(committed))} (${num(committed)} messages)`;
  const done = exact ? `the server committed ${range}` : `the server had committed at least ${range} (any more are duplicates when resumed)`;
  console.error(`nomnom: ${done}; resume with:\n  ${fromFile ? "" : "(the same input) | "}${resume}`);
}

async function main() {
  let lines = new MessageLines(fromLine);
  const abort = new AbortController();
  let interrupted = false;
  process.on("SIGINT", () => {
    if (!stop.asked && stop.cuttable) {
      stop.asked = true;
      console.error("nomnom: stopping: no more lines are sent; waiting for the server to count what it has (Ctrl-C again to leave now)");
      return;
    }
    interrupted = true;
    abort.abort(new Error("interrupted"));
  });
  let committed = 0;
  /** @type {number | undefined} */
  let outcome;
  // A file can be read again, so a 429 or 503 before the stream starts is retried after Retry-After; standard input cannot.
  const fresh = () => {
    bytesRead = 0;
    lines = new MessageLines(fromLine);
    return inputBytes(lines);
  };
  const source = fromFile ? fresh : fresh();
  const onRetry = (/** @type {{ attempt: number, waitMs: number, status?: number, error?: unknown }} */ retry) =>
    console.error(
      `nomnom: ${retry.status ? `the server answered ${retry.status}` : `cannot reach the server (${reason(/** @type {Error} */ (retry.error).cause ?? retry.error)})`}; retry ${retry.attempt} in ${(retry.waitMs / 1000).toFixed(1)} s`,
    );
  try {
    for await (const event of client.stream(null, source, { format: lineFormat, signal: abort.signal, onRetry })) {
      if (event.event === "rejected") {
        const data = event.data;
        if (tty) process.stderr.write("\r\x1b[2K");
        console.error(`line ${data.line_number + fromLine - 1}: ${data.entity ? `${data.entity}: ` : ""}${data.message}`);
      } else if (event.event === "progress") {
        committed = event.data.processed;
        showProgress(event.data);
      } else if (event.event === "summary") {
        const data = event.data;
        if (tty) showProgress({ ...data, processed: data.total }, true);
        console.log(
          `${data.status}: ${num(data.total)} lines, ${num(data.inserted)} inserted, ${num(data.duplicates)} duplicates, ${num(data.failed)} failed in ${(data.duration_ms / 1000).toFixed(1)} s`,
        );
        outcome = data.failed > 0 ? EXIT.rejected : EXIT.ok;
        if (stop.cut) {
          resumeHint(lines, data.total, true);
          outcome = EXIT.interrupted;
        }
      } else if (event.event === "failure") {
        const { message, committed: sofar } = event.data;
        outcome = fail(`the server stopped: ${message} (committed so far: ${num(sofar?.inserted ?? 0)} inserted, ${num(sofar?.duplicates ?? 0)} duplicates)`);
        resumeHint(lines, sofar?.processed ?? committed, false);
      }
    }
  } catch (error) {
    if (!(error instanceof NomnomError)) return fail(`cannot read ${fromFile ? input : "standard input"}: ${reason(error)}`, EXIT.noInput);
    if (interrupted) {
      fail("interrupted", EXIT.interrupted);
      resumeHint(lines, committed, false);
      return EXIT.interrupted;
    }
    if (error.code === "connection_lost") {
      fail(`${error.message}${error.cause ? `: ${reason(/** @type {Error} */ (error.cause).cause ?? error.cause)}` : ""}`);
      resumeHint(lines, committed, false);
      return EXIT.connectionLost;
    }
    if (error.code === "unreachable") {
      const cause = /** @type {{ cause?: unknown }} */ (error.cause)?.cause ?? error.cause;
      const origin = new URL(/** @type {string} */ (values.url)).origin;
      return fail(`cannot reach ${origin}: ${reason(cause)}`);
    }
    const wait = error.retryAfterSeconds ? ` (retry after ${error.retryAfterSeconds} s)` : "";
    return fail(`${error.message}${wait}`);
  }
  return outcome ?? fail("the stream ended without a summary");
}

process.exit(await main());
