// @ts-check
/**
 * nomnom-edge/client: send records to a nomnom-edge service from Node ≥ 20, browsers and Workers.
 * Plain JavaScript on platform APIs only (fetch, CompressionStream, crypto.randomUUID), so it runs
 * right after `npm install`, without a build step; index.d.ts types it per entity
 * (src/generated/client-entities.d.ts, generated from the registry by `npm run build`). docs/client.md says how it behaves.
 */

const DEFAULTS = {
  flushAt: 500,
  flushIntervalMs: 1000,
  maxQueue: 10_000,
  /** @type {"wait" | "throw"} */
  whenFull: "wait",
  maxRetries: 5,
  concurrency: 4,
  timeoutMs: 60_000,
  gzip: true,
};
/** Answers worth the wait: the rate limit, and a database (or a schema) not ready yet. */
const RETRY_STATUSES = new Set([429, 503]);
const FIRST_BACKOFF_MS = 250;
const MAX_WAIT_MS = 60_000;

/** The one error the client throws or rejects with: `code` is the service's code (Error schema) or the client's own. */
export class NomnomError extends Error {
  /**
   * @param {string} message
   * @param {{ code: string, status?: number, requestId?: string, retryAfterSeconds?: number, cause?: unknown }} details
   */
  constructor(message, details) {
    super(message, { cause: details.cause });
    this.name = "NomnomError";
    this.code = details.code;
    this.status = details.status;
    this.requestId = details.requestId;
    this.retryAfterSeconds = details.retryAfterSeconds;
  }
}

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * How long to wait before attempt `attempt` + 1: the server's Retry-After when it gave one, else a jittered exponential backoff.
 * @param {Response | undefined} response
 * @param {number} attempt
 */
function waitBeforeRetry(response, attempt) {
  const header = Number(response?.headers.get("retry-after"));
  if (Number.isFinite(header) && header >= 0) return Math.min(header * 1000, MAX_WAIT_MS);
  const ceiling = Math.min(FIRST_BACKOFF_MS * 2 ** attempt, MAX_WAIT_MS);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/**
 * The service's Error body (or a gateway's page) as a NomnomError that says what to do.
 * @param {Response} response
 * @param {string} what
 */
async function errorOf(response, what) {
  const text = await response.text().catch(() => "");
  /** @type {{ code?: string, message?: string, request_id?: string } | undefined} */
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const hint =
    response.status === 401
      ? " (check the key)"
      : response.status === 404 && body?.code === undefined
        ? " (is the url a nomnom-edge service?)"
        : response.status === 403
          ? " (the key's scopes do not allow it)"
          : "";
  const message = body?.message ?? (text.slice(0, 200) || response.statusText);
  return new NomnomError(`${what}: ${response.status} ${body?.code ?? ""}${body?.code ? ": " : ""}${message}${hint}`, {
    code: body?.code ?? (response.status === 404 ? "not_found" : "http_error"),
    status: response.status,
    requestId: body?.request_id ?? response.headers.get("x-request-id") ?? undefined,
    retryAfterSeconds: Number(response.headers.get("retry-after")) || undefined,
  });
}

/** @param {string} text */
async function gzipped(text) {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** @param {Uint8Array | undefined} bytes */
const isGzip = (bytes) => bytes !== undefined && bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;

/**
 * @typedef {{ entity: string, record: object, line: string }} Queued
 * @typedef {{ sent: number, inserted: number, duplicates: number, rejected: number, queued: number, undelivered: number, requests: number }} Counts
 */

export class NomnomClient {
  /** @type {URL} */
  #base;
  /** @type {Record<string, string>} */
  #auth;
  /** @type {typeof DEFAULTS & Omit<import("./index.d.ts").NomnomClientOptions, keyof typeof DEFAULTS>} */
  #options;
  /** @type {typeof fetch} */
  #fetch;
  /** Records not in a batch yet. @type {Queued[]} */
  #buffer = [];
  /** Records buffered or in flight: what maxQueue bounds. */
  #held = 0;
  #senders = 0;
  /** A flush, a close or the interval asked for partial batches too. */
  #partial = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #timer;
  /** send() calls waiting for room. @type {(() => void)[]} */
  #waiting = [];
  /** flush() calls waiting for everything to settle. @type {{ resolve: (counts: Counts) => void, reject: (error: unknown) => void }[]} */
  #idle = [];
  /** @type {Counts} */
  #counts = { sent: 0, inserted: 0, duplicates: 0, rejected: 0, queued: 0, undelivered: 0, requests: 0 };
  /** @type {NomnomError | undefined} */
  #error;
  #closed = false;
  /** The service's entity names, from GET /health, once. @type {Promise<Set<string>> | undefined} */
  #entities;
  /** Names and prefixes. @type {Set<string> | undefined} */
  #known;
  /** @type {string[]} */
  #names = [];

  /** @param {import("./index.d.ts").NomnomClientOptions} options */
  constructor(options) {
    if (typeof options?.url !== "string") throw new NomnomError("new NomnomClient({ url }): url is required, e.g. http://localhost:8080", { code: "bad_url" });
    let base;
    try {
      base = new URL(options.url.replace(/\/+$/, "") + "/");
    } catch {
      base = undefined;
    }
    if (base?.protocol !== "http:" && base?.protocol !== "https:") {
      throw new NomnomError(`url must be an http:// or https:// URL, got ${JSON.stringify(options.url)}`, { code: "bad_url" });
    }
    this.#base = base;
    this.#auth = options.key ? { Authorization: `Bearer ${options.key}` } : {};
    this.#options = { ...DEFAULTS, ...options };
    for (const name of /** @type {(keyof typeof DEFAULTS)[]} */ (Object.keys(DEFAULTS))) {
      if (options[name] === undefined) Object.assign(this.#options, { [name]: DEFAULTS[name] });
    }
    for (const name of /** @type {const} */ (["flushAt", "maxQueue", "concurrency"])) {
      if (!Number.isInteger(this.#options[name]) || this.#options[name] < 1)
        throw new NomnomError(`${name} must be a positive integer`, { code: "bad_option" });
    }
    if (this.#options.maxQueue < this.#options.flushAt) throw new NomnomError("maxQueue must be at least flushAt", { code: "bad_option" });
    const given = options.fetch ?? globalThis.fetch;
    this.#fetch = (input, init) => {
      this.#counts.requests++;
      return given(input, init);
    };
  }

  /** Counts since the client was made: sent to the server, and what became of them. */
  get counts() {
    return { ...this.#counts };
  }

  /** The error that stopped the client, if one did. */
  get error() {
    return this.#error;
  }

  /**
   * Buffers one record; returns at once. When maxQueue records are held: waits for room (a promise) or throws, per whenFull.
   * @param {string} entity
   * @param {object} record
   * @returns {void | Promise<void>}
   */
  send(entity, record) {
    if (this.#error) throw this.#error;
    if (this.#closed) throw new NomnomError("send() after close()", { code: "closed" });
    if (typeof entity !== "string" || entity === "") throw new NomnomError("send(entity, record): entity must be an entity name", { code: "unknown_entity" });
    if (this.#known && !this.#known.has(entity)) throw this.#unknownEntity(entity);
    if (record === null || typeof record !== "object" || Array.isArray(record)) {
      throw new NomnomError(`send(${JSON.stringify(entity)}, record): record must be an object`, { code: "bad_record" });
    }
    // Serialised now: a record changed after send() is sent as it was.
    const queued = { entity, record, line: JSON.stringify({ entity, ...record }) };
    if (this.#held < this.#options.maxQueue) return this.#enqueue(queued);
    if (this.#options.whenFull === "throw") {
      throw new NomnomError(`the queue holds maxQueue (${this.#options.maxQueue}) records: wait for flush(), or use whenFull: "wait"`, { code: "queue_full" });
    }
    // Resolves once queued, or once the client has failed (the record is counted undelivered; flush() says why): never rejects.
    return new Promise((resolve) =>
      this.#waiting.push(() => {
        if (this.#error) this.#counts.undelivered++;
        else this.#enqueue(queued);
        resolve();
      }),
    );
  }

  /** Sends everything buffered and waits until every record sent so far is settled; resolves with the counts. */
  flush() {
    if (this.#error) return Promise.reject(this.#error);
    // Only what is buffered now goes out early: records sent later wait for a full batch or the interval.
    this.#partial = this.#buffer.length > 0;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const settled = new Promise((resolve, reject) => this.#idle.push({ resolve, reject }));
    this.#pump();
    this.#checkIdle();
    return /** @type {Promise<Counts>} */ (settled);
  }

  /** flush(), then refuses further send() calls. */
  close() {
    const settled = this.flush();
    this.#closed = true;
    return settled;
  }

  /**
   * Streams `source` to POST /ingest/stream, gzip-compressed, and yields the server's events as they come.
   * @param {string | null} entity
   * @param {import("./index.d.ts").StreamSource} source
   * @param {import("./index.d.ts").StreamOptions} [options]
   */
  async *stream(entity, source, options = {}) {
    const url = new URL("ingest/stream", this.#base);
    if (entity) url.searchParams.set("entity", entity);
    if (options.progress) url.searchParams.set("progress", options.progress);
    const reopenable = typeof source === "function" || typeof source === "string" || (typeof Blob !== "undefined" && source instanceof Blob);
    for (let attempt = 0; ; attempt++) {
      const body = await streamBody(typeof source === "function" ? source() : source);
      const headers = {
        ...this.#auth,
        "Content-Type": (options.format ?? "ndjson") === "ndjson" ? "application/x-ndjson" : "text/plain; charset=utf-8",
        "Content-Encoding": "gzip",
      };
      /** @type {Response} */
      let response;
      try {
        response = await this.#fetch(url, /** @type {RequestInit} */ ({ method: "POST", headers, body, duplex: "half", signal: options.signal }));
      } catch (error) {
        if (options.signal?.aborted) throw abortError(options.signal, error);
        if (!reopenable || attempt >= this.#options.maxRetries || isWrongAddress(error)) throw unreachable(url, error, attempt);
        const waitMs = waitBeforeRetry(undefined, attempt);
        options.onRetry?.({ attempt: attempt + 1, waitMs, error });
        await sleep(waitMs);
        continue;
      }
      if (RETRY_STATUSES.has(response.status) && reopenable && attempt < this.#options.maxRetries) {
        await response.body?.cancel();
        const waitMs = waitBeforeRetry(response, attempt);
        options.onRetry?.({ attempt: attempt + 1, waitMs, status: response.status });
        await sleep(waitMs);
        continue;
      }
      if (!response.ok || !response.body) throw await errorOf(response, "POST /ingest/stream");
      let ended = false;
      try {
        for await (const event of serverSentEvents(response.body)) {
          ended ||= event.event === "summary" || event.event === "failure";
          yield event;
        }
      } catch (error) {
        if (options.signal?.aborted) throw abortError(options.signal, error);
        throw new NomnomError(`the connection to ${url.origin} was lost during the stream`, { code: "connection_lost", cause: error });
      }
      if (!ended) throw new NomnomError(`the stream from ${url.origin} ended without a summary`, { code: "connection_lost" });
      return;
    }
  }

  /** @param {Queued} queued */
  #enqueue(queued) {
    this.#buffer.push(queued);
    this.#held++;
    if (this.#buffer.length >= this.#options.flushAt) this.#pump();
    else
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        this.#partial = true;
        this.#pump();
      }, this.#options.flushIntervalMs);
  }

  /** Starts senders while there is a batch to send and a free slot. */
  #pump() {
    while (this.#senders < this.#options.concurrency && !this.#error) {
      const full = this.#buffer.length >= this.#options.flushAt;
      if (!full && !(this.#partial && this.#buffer.length > 0)) break;
      const batch = this.#buffer.splice(0, this.#options.flushAt);
      if (this.#buffer.length === 0) {
        this.#partial = false;
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
      this.#senders++;
      this.#sendBatch(batch).finally(() => {
        this.#senders--;
        this.#held -= batch.length;
        while (this.#waiting.length > 0 && (this.#error || this.#held < this.#options.maxQueue)) this.#waiting.shift()?.();
        this.#pump();
        this.#checkIdle();
      });
    }
  }

  #checkIdle() {
    if (this.#error) {
      for (const waiter of this.#idle.splice(0)) waiter.reject(this.#error);
    } else if (this.#held === 0 && this.#waiting.length === 0) {
      for (const waiter of this.#idle.splice(0)) waiter.resolve(this.counts);
    }
  }

  /** @param {NomnomError} error */
  #fail(error) {
    if (this.#error) return;
    this.#error = error;
    this.#counts.undelivered += this.#buffer.length;
    this.#held -= this.#buffer.length;
    this.#buffer = [];
    clearTimeout(this.#timer);
    try {
      this.#options.onError?.(error);
    } catch (thrown) {
      console.error("nomnom-edge/client: onError threw", thrown);
    }
  }

  /** @param {string} entity */
  #unknownEntity(entity) {
    return new NomnomError(`unknown entity ${JSON.stringify(entity)}: this service has ${this.#names.join(", ")}`, { code: "unknown_entity" });
  }

  /** GET /health once: that the url is a nomnom-edge service, and its entity names. */
  #connect() {
    this.#entities ??= (async () => {
      const url = new URL("health", this.#base);
      const response = await this.#withRetries(url, () => ({ method: "GET" }), true);
      /** @type {{ entities?: { name: string, prefix: string }[] } | undefined} */
      const body = await response.json().catch(() => undefined);
      if (!Array.isArray(body?.entities)) {
        throw new NomnomError(`${this.#base.origin} is not a nomnom-edge service: GET /health answered ${response.status} without its entities`, {
          code: "not_nomnom",
          status: response.status,
        });
      }
      this.#names = body.entities.map((e) => e.name);
      // The server takes an entity's name or its prefix.
      this.#known = new Set(body.entities.flatMap((e) => [e.name, e.prefix]));
      return this.#known;
    })();
    return this.#entities;
  }

  /**
   * One request, retried on a network error, 429 and 503 (after Retry-After), up to maxRetries: the answer, or a NomnomError.
   * `connecting`: the first request, where a refused connection or an unknown host is a wrong url, not worth a retry.
   * @param {URL} url
   * @param {() => RequestInit} init
   * @param {boolean} [connecting]
   */
  async #withRetries(url, init, connecting = false) {
    for (let attempt = 0; ; attempt++) {
      /** @type {Response | undefined} */
      let response;
      try {
        response = await this.#fetch(url, { ...init(), signal: AbortSignal.timeout(this.#options.timeoutMs) });
      } catch (error) {
        if (attempt >= this.#options.maxRetries || (connecting && isWrongAddress(error))) throw unreachable(url, error, attempt);
      }
      if (response && !RETRY_STATUSES.has(response.status)) return response;
      // /health answers 503 with its body when the database is down: that body is what connecting needs.
      if (response && connecting && response.status === 503) return response;
      if (response && attempt >= this.#options.maxRetries) {
        const error = await errorOf(response, `${init().method} ${url.pathname}`);
        error.message += ` (after ${attempt} retries)`;
        throw error;
      }
      await response?.body?.cancel();
      await sleep(waitBeforeRetry(response, attempt));
    }
  }

  /**
   * Sends one batch as NDJSON with its own Idempotency-Key (so a retry never writes twice); never throws: a failure stops the client.
   * @param {Queued[]} batch
   */
  async #sendBatch(batch) {
    try {
      const known = await this.#connect();
      const stranger = batch.find((queued) => !known.has(queued.entity));
      if (stranger) throw this.#unknownEntity(stranger.entity);
      const text = batch.map((queued) => queued.line).join("\n") + "\n";
      const body = this.#options.gzip ? await gzipped(text) : text;
      const headers = {
        ...this.#auth,
        "Content-Type": "application/x-ndjson",
        ...(this.#options.gzip ? { "Content-Encoding": "gzip" } : {}),
        "Idempotency-Key": crypto.randomUUID(),
      };
      const response = await this.#withRetries(new URL("ingest/batch", this.#base), () => ({ method: "POST", headers, body }));
      const answer = await response
        .clone()
        .json()
        .catch(() => undefined);
      // 200, 207, 400 with a batch answer (every line rejected), or 202 (queued): per-record outcomes; anything else stops the client.
      if (!answer || (typeof answer.processed !== "number" && answer.status !== "accepted")) throw await errorOf(response, "POST /ingest/batch");
      this.#counts.sent += batch.length;
      this.#counts.inserted += answer.inserted ?? 0;
      this.#counts.duplicates += answer.duplicates ?? 0;
      this.#counts.queued += answer.queued ?? 0;
      this.#counts.rejected += answer.failed ?? 0;
      for (const error of answer.errors ?? []) {
        const queued = batch[error.line_number - 1];
        if (!queued) continue;
        try {
          this.#options.onRejected?.(/** @type {import("./index.d.ts").Records[import("./index.d.ts").EntityName]} */ (queued.record), error);
        } catch (thrown) {
          console.error("nomnom-edge/client: onRejected threw", thrown);
        }
      }
    } catch (error) {
      this.#counts.undelivered += batch.length;
      this.#fail(
        error instanceof NomnomError
          ? error
          : new NomnomError(`nomnom-edge/client: ${error instanceof Error ? error.message : error}`, { code: "client_error", cause: error }),
      );
    }
  }
}

/** Nothing listens there, the name does not resolve, or fetch refuses the port: a wrong url, which no retry fixes. */
const WRONG_ADDRESS = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "bad port"]);

/** @param {unknown} error */
function isWrongAddress(error) {
  const cause = /** @type {{ cause?: { code?: string, message?: string } }} */ (error)?.cause;
  return WRONG_ADDRESS.has(cause?.code ?? cause?.message ?? "");
}

/**
 * @param {URL} url
 * @param {unknown} error
 * @param {number} [retries]
 */
function unreachable(url, error, retries) {
  const cause = /** @type {{ cause?: { code?: string, message?: string } }} */ (error)?.cause;
  const why = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
  const after = retries ? ` (after ${retries} retries)` : "";
  return new NomnomError(`cannot reach ${url.origin}: ${why}${after}`, { code: "unreachable", cause: error });
}

/**
 * @param {AbortSignal} signal
 * @param {unknown} error
 */
function abortError(signal, error) {
  return new NomnomError(`aborted: ${signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? "aborted")}`, {
    code: "aborted",
    cause: error,
  });
}

/**
 * A stream's request body, gzip-compressed unless it already is (by its first two bytes).
 * @param {Exclude<import("./index.d.ts").StreamSource, () => unknown>} source
 * @returns {Promise<BodyInit>}
 */
async function streamBody(source) {
  if (typeof Blob !== "undefined" && source instanceof Blob) {
    // Streamed request bodies are not available in every browser: a Blob is sent whole, compressed first.
    if (isGzip(new Uint8Array(await source.slice(0, 2).arrayBuffer()))) return source;
    return new Response(source.stream().pipeThrough(new CompressionStream("gzip"))).blob();
  }
  const bytes =
    typeof source === "string"
      ? await fileStream(source)
      : source instanceof ReadableStream
        ? source
        : iterableStream(/** @type {AsyncIterable<unknown> | Iterable<unknown>} */ (source));
  const [first, rest] = await peek(bytes);
  const whole = prepend(first, rest);
  return isGzip(first) ? whole : whole.pipeThrough(new CompressionStream("gzip"));
}

/**
 * A file, in Node (a browser passes a File).
 * @param {string} path
 * @returns {Promise<ReadableStream<Uint8Array>>}
 */
async function fileStream(path) {
  const modules = await Promise.all([import("node:fs"), import("node:stream")]).catch(() => {
    throw new NomnomError("a file path is a source in Node only: in a browser, pass the File", { code: "bad_source" });
  });
  const [{ createReadStream }, { Readable }] = modules;
  const file = createReadStream(path);
  await new Promise((resolve, reject) => file.once("open", resolve).once("error", reject));
  return /** @type {ReadableStream<Uint8Array>} */ (Readable.toWeb(file));
}

const encoder = new TextEncoder();

/**
 * Records (one JSON line each), lines (text) or bytes, as a byte stream read as the server takes it.
 * @param {AsyncIterable<unknown> | Iterable<unknown>} items
 * @returns {ReadableStream<Uint8Array>}
 */
function iterableStream(items) {
  const iterator = Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : /** @type {Iterable<unknown>} */ (items)[Symbol.iterator]();
  return new ReadableStream({
    async pull(controller) {
      const { value, done } = await iterator.next();
      if (done) return controller.close();
      if (value instanceof Uint8Array) controller.enqueue(value);
      else if (typeof value === "string") controller.enqueue(encoder.encode(value.endsWith("\n") ? value : `${value}\n`));
      else controller.enqueue(encoder.encode(`${JSON.stringify(value)}\n`));
    },
    async cancel(reason) {
      await iterator.return?.(reason);
    },
  });
}

/**
 * The first chunk of a stream, and the stream of the rest.
 * @param {ReadableStream<Uint8Array>} stream
 * @returns {Promise<[Uint8Array | undefined, ReadableStreamDefaultReader<Uint8Array>]>}
 */
async function peek(stream) {
  const reader = stream.getReader();
  const { value } = await reader.read();
  return [value, reader];
}

/**
 * @param {Uint8Array | undefined} first
 * @param {ReadableStreamDefaultReader<Uint8Array>} rest
 * @returns {ReadableStream<Uint8Array>}
 */
function prepend(first, rest) {
  let pending = first;
  return new ReadableStream({
    async pull(controller) {
      if (pending) {
        controller.enqueue(pending);
        pending = undefined;
        return;
      }
      const { value, done } = await rest.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => rest.cancel(reason),
  });
}

/**
 * Server-Sent Events (the WHATWG format: `event:`, `data:`, `id:` fields, a blank line ends an event), data parsed as JSON.
 * @param {ReadableStream<Uint8Array>} body
 * @returns {AsyncGenerator<import("./index.d.ts").StreamEvent>}
 */
async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      for (let end = buffer.search(/\r?\n\r?\n/); end >= 0; end = buffer.search(/\r?\n\r?\n/)) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
        /** @type {Record<string, string>} */
        const fields = { event: "message", data: "" };
        const data = [];
        for (const line of block.split(/\r?\n/)) {
          const colon = line.indexOf(":");
          if (colon === 0) continue;
          const name = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (name === "data") data.push(value);
          else fields[name] = value;
        }
        if (data.length === 0) continue;
        yield/** @type {import("./index.d.ts").StreamEvent} */ ({ event: fields.event, id: fields.id, data: JSON.parse(data.join("\n")) });
      }
    }
  } finally {
    // A consumer that stopped early leaves the rest unread: let the connection go.
    await reader.cancel().catch(() => {});
  }
}
