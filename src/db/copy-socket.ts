/**
 * The COPY writer's sockets: the WebSockets one request holds (at most MAX_SOCKETS, its chunks take
 * turns) within the isolate's cap, opened ahead when rows are coming, given back between
 * transactions, and closed with the request. Also the per-statement deadline the writer runs under.
 */
import { Client } from "@neondatabase/serverless";
import { IngestError, TransientDatabaseError } from "../errors.ts";
import { watchReady } from "./copy-protocol.ts";
import { countSubrequest, type DbClock } from "./insert-writer.ts";

/**
 * WebSockets one request holds at most; its chunks take turns. Each connection is a new PostgreSQL
 * backend: with 3 per request, /ingest/batch (10,000-line requests) cost PostgreSQL twice the CPU
 * of the same rows through one stream, and ran slower than INSERT (docs/bulk-writer.md). Across
 * requests there is parallelism enough; within one, the database is one COPY at a time anyway.
 */
const MAX_SOCKETS = 1;

/**
 * Fails `work` when `ms` pass without progress. `work` may be given `touch`, which starts the `ms`
 * again: a transaction calls it as each statement completes, so its deadline is per statement (a
 * group of chunks, or a compute waking for the first one, is not held to one statement's time).
 */
export async function deadline<T>(ms: number, what: string, work: Promise<T> | ((touch: () => void) => Promise<T>), onTimeout: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let fail: (error: Error) => void = () => {};
  const timeout = new Promise<never>((_, reject) => {
    fail = reject;
  });
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      onTimeout();
      fail(new TransientDatabaseError(`${what}: nothing finished within ${ms} ms`));
    }, ms);
  };
  touch();
  try {
    return await Promise.race([typeof work === "function" ? work(touch) : work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The platform's WebSocket, except that send() on a socket already closing or closed drops the data
 * instead of throwing. With coalesceWrites, the library sends its buffered writes from a
 * setTimeout(0); when the server ended the session meanwhile (a refused password, a fault) and the
 * socket was closed, that send() threw outside any promise: an uncaught exception in the Worker's
 * logs for a request that was answered correctly. Data for a closed socket is lost either way.
 */
export class QuietWebSocket extends WebSocket {
  override send(data: Parameters<WebSocket["send"]>[0]): void {
    if (this.readyState <= WebSocket.OPEN) super.send(data);
  }
}

/** A host on this machine: localhost, 127.0.0.0/8, ::1, or a name that only resolves to loopback (*.localhost, *.localtest.me). */
const isLoopback = (host: string) => /^(localhost|127(\.\d{1,3}){3}|\[?::1\]?|.+\.localhost|(.+\.)?localtest\.me)$/i.test(host);

/**
 * NEON_WS_PROXY turns TLS off (plain ws://) and the password goes with the startup message: only
 * to an endpoint on this machine. Anywhere else it is refused, as a deployment's misconfiguration.
 */
function checkPlainWebSocket(wsProxy: string): void {
  const host = /^(\[[^\]]*\]|[^:/]+)/.exec(wsProxy)?.[1] ?? "";
  if (!isLoopback(host))
    throw new IngestError(
      "misconfigured",
      `NEON_WS_PROXY points at ${host}, which is not this machine: it turns TLS off and would send the database password in clear; it is for local development only, unset it`,
    );
}

/**
 * WebSockets this isolate holds at once, across its requests: each is a PostgreSQL backend (a
 * PgBouncer client on Neon's -pooler host), and Workers cannot share a socket across requests, so a
 * burst of bulk requests would open one each and meet 53300 past the compute's max_connections
 * (about 100 at Neon's smallest size). Beyond `max`, a request writes over HTTP instead (one
 * statement per request, no connection held). Tests lower `max`.
 */
export interface SocketCount {
  open: number;
  max: number;
}

export interface SocketOptions {
  connectionString: string;
  /** Dev/test only: the local WebSocket endpoint (NEON_WS_PROXY). Unset: Neon's own, with the library's defaults. */
  wsProxy?: string;
  clock: DbClock;
  /** Connecting's deadline (DB_TIMEOUT_MS). */
  timeoutMs: number;
  /** The isolate's count of WebSockets, and its cap (DbIsolate). */
  sockets: SocketCount;
}

/**
 * A client that never connected must not be end()ed: its Terminate message would be sent on a
 * WebSocket still opening, which throws outside any promise. Its socket is closed instead.
 */
function closeUnopened(client: Client): void {
  try {
    (client as unknown as { connection: { stream: { ws?: WebSocket } } }).connection.stream.ws?.close();
  } catch {}
}

/** One WebSocket to PostgreSQL, connected within the deadline; opening it is the request's subrequest. */
async function openSocket(options: SocketOptions): Promise<Client> {
  if (options.wsProxy) checkPlainWebSocket(options.wsProxy);
  // Opening the WebSocket is the subrequest; what goes over it afterwards is not (no fetch).
  countSubrequest(options.clock);
  const client = new Client(options.connectionString);
  client.neonConfig.webSocketConstructor = QuietWebSocket;
  if (options.wsProxy) {
    // The local endpoint: plain ws://; the password pipelined with the startup message, as against Neon.
    client.neonConfig.wsProxy = options.wsProxy;
    client.neonConfig.useSecureWebSocket = false;
  }
  // A broken connection also emits "error" on the client: the failing query reports it.
  client.on("error", () => {});
  try {
    const connecting = client.connect();
    // After connect(): with a pipelined password it replaces the connection's readyForQuery listeners.
    watchReady(client);
    await deadline(options.timeoutMs, "connecting over WebSocket", connecting, () => closeUnopened(client));
  } catch (error) {
    closeUnopened(client);
    throw error;
  }
  return client;
}

/** The request's WebSockets. */
export class SocketPool {
  private readonly idle: Client[] = [];
  private readonly all = new Set<Client>();
  /** Chunks waiting for a connection: handed an idle one, or undefined (a place came free: open one). */
  private readonly waiting: ((client: Client | undefined) => void)[] = [];
  private opening = 0;
  /** A connection opened ahead (prepare), until the first chunk takes it, failure included. */
  private prepared: Promise<Client> | undefined;

  private readonly options: SocketOptions;

  constructor(options: SocketOptions) {
    this.options = options;
  }

  /** Opens a connection in one of the MAX_SOCKETS places; on failure the place goes to the next waiting chunk. */
  private async connect(): Promise<Client> {
    this.opening++;
    try {
      if (this.options.sockets.open >= this.options.sockets.max) throw new Error(`this isolate holds its ${this.options.sockets.max} WebSockets already`);
      this.options.sockets.open++;
      try {
        const client = await openSocket(this.options);
        this.all.add(client);
        return client;
      } catch (error) {
        this.options.sockets.open--;
        throw error;
      }
    } catch (error) {
      // The place stays free: the next waiting chunk tries (and, with no WebSocket, falls back too).
      this.waiting.shift()?.(undefined);
      throw error;
    } finally {
      this.opening--;
    }
  }

  /** The connection opened ahead, an idle one, a new one while fewer than MAX_SOCKETS are open, or the next one given back. */
  async borrow(): Promise<Client> {
    if (this.prepared) {
      const ahead = this.prepared;
      this.prepared = undefined;
      return ahead;
    }
    const ready = this.idle.pop();
    if (ready) return ready;
    if (this.all.size + this.opening >= MAX_SOCKETS) {
      const given = await new Promise<Client | undefined>((resolve) => this.waiting.push(resolve));
      if (given) return given;
    }
    return this.connect();
  }

  giveBack(client: Client): void {
    const next = this.waiting.shift();
    if (next) next(client);
    else this.idle.push(client);
  }

  discard(client: Client): void {
    if (!this.all.delete(client)) return;
    this.options.sockets.open--;
    this.waiting.shift()?.(undefined);
    // end() may never settle on a lost connection: nobody waits for it.
    void client.end().catch(() => {});
  }

  /** Starts opening a connection, unless one is open or opening. */
  prepare(): void {
    if (this.prepared || this.all.size + this.opening > 0) return;
    this.prepared = this.connect();
    // Its failure is the first chunk's to handle (or nobody's, when no row comes).
    this.prepared.catch(() => {});
  }

  async close(): Promise<void> {
    // A connection still opening ahead is closed with the rest.
    await this.prepared?.catch(() => {});
    this.prepared = undefined;
    const clients = [...this.all];
    this.all.clear();
    this.options.sockets.open -= clients.length;
    this.idle.length = 0;
    // Bounded: a connection that went bad must not hold the request open.
    await Promise.all(clients.map((c) => deadline(1000, "closing a WebSocket", c.end(), () => {}).catch(() => {})));
  }
}
