/**
 * A local endpoint that speaks Neon's WebSocket protocol: the Postgres wire protocol over a WebSocket,
 * to the same PostgreSQL as the HTTP endpoint. Like Neon's proxy (proxy/src/serverless/websocket.rs,
 * then the TCP path's handshake in proxy/src/auth/), it answers the startup message itself, asks for
 * a cleartext password and checks it, then connects to PostgreSQL and passes bytes through both ways.
 * Over PGlite (one session in this process), pglite-wire.ts plays PostgreSQL's part, COPY FROM STDIN
 * included. Dev and test only.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import { type AddressInfo, connect, type Socket } from "node:net";
import type { WebSocket, WebSocketServer as WebSocketServerType } from "ws";

// Required, not imported: under the Worker tests' Vite the import would resolve ws's "browser" stub.
const { WebSocketServer } = createRequire(import.meta.url)("ws") as { WebSocketServer: typeof WebSocketServerType };

import type { FaultSwitch } from "./faults.ts";
import { errorResponse, message, type PgliteLease, PgliteSession } from "./pglite-wire.ts";

const PROTOCOL_3 = 196608;
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

export interface WsServerOptions {
  /** Test-only: the HTTP endpoint's fault switch, each fault given its WebSocket meaning (see faults.ts). */
  faults?: FaultSwitch;
  /** When set, the client's password must be this one (LOCAL_NEON_PASSWORD); otherwise any is accepted. */
  password?: string;
}

const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

const readyForQuery = () => message("Z", Buffer.from("I", "latin1"));

/**
 * Every refusal before the pass-through, as Neon's proxy sends it: severity ERROR, SQLSTATE XX000,
 * the message (proxy/src/stream.rs, PqStream::throw_error: `self.write.write_error(msg,
 * SQLSTATE_INTERNAL_ERROR)` under "TODO: either preserve the error code from postgres, or assign
 * error codes to proxy errors"). The session ends after it.
 */
export const proxyRefusal = (text: string) => errorResponse("ERROR", text, "XX000");

/** The M (message) field of an ErrorResponse's body. */
function errorText(body: Buffer): string {
  for (let at = 0; at < body.length && body[at] !== 0; ) {
    const end = body.indexOf(0, at + 1);
    if (body[at] === 0x4d) return body.subarray(at + 1, end).toString("utf8");
    at = end + 1;
  }
  return "";
}

/** The key/value pairs of a startup message's body (after length and protocol). */
function startupParams(body: Buffer): Record<string, string> {
  const parts = body.toString("utf8").split("\0");
  const params: Record<string, string> = {};
  for (let i = 0; i + 1 < parts.length && parts[i] !== ""; i += 2) params[parts[i]] = parts[i + 1];
  return params;
}

function startupMessage(params: Record<string, string>): Buffer {
  const body = Buffer.concat([int32(PROTOCOL_3), ...Object.entries(params).map(([k, v]) => Buffer.from(`${k}\0${v}\0`, "utf8")), Buffer.from([0])]);
  return Buffer.concat([int32(body.length + 4), body]);
}

/** Bytes in, whole messages out; startup-phase messages have no type byte. */
class Reader {
  private buffer = Buffer.alloc(0);
  push(data: Buffer): void {
    this.buffer = this.buffer.length === 0 ? data : Buffer.concat([this.buffer, data]);
  }
  /** The next untyped (startup) message, whole, or undefined until it has arrived. */
  untyped(): Buffer | undefined {
    if (this.buffer.length < 4) return undefined;
    const length = this.buffer.readInt32BE(0);
    if (this.buffer.length < length) return undefined;
    const whole = this.buffer.subarray(0, length);
    this.buffer = this.buffer.subarray(length);
    return whole;
  }
  /** The next typed message: its type and body. */
  typed(): { type: string; body: Buffer; whole: Buffer } | undefined {
    if (this.buffer.length < 5) return undefined;
    const length = this.buffer.readInt32BE(1);
    if (this.buffer.length < length + 1) return undefined;
    const whole = this.buffer.subarray(0, length + 1);
    this.buffer = this.buffer.subarray(length + 1);
    return { type: String.fromCharCode(whole[0]), body: whole.subarray(5), whole };
  }
  rest(): Buffer {
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    return rest;
  }
}

/**
 * Opens a session on PostgreSQL as the endpoint's configured user and database (whatever the client
 * named, as the HTTP endpoint does), answering cleartext or md5 password requests with the URL's
 * password; resolves once PostgreSQL is ready for queries, with everything it sent from AuthenticationOk on.
 */
async function openBackend(databaseUrl: URL, clientParams: Record<string, string>): Promise<{ socket: Socket; first: Buffer }> {
  const socket = connect({ host: databaseUrl.hostname, port: Number(databaseUrl.port || 5432) });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const user = decodeURIComponent(databaseUrl.username || "postgres");
  const password = decodeURIComponent(databaseUrl.password);
  const { user: _user, database: _database, options: _options, ...rest } = clientParams;
  socket.write(startupMessage({ ...rest, user, database: decodeURIComponent(databaseUrl.pathname.slice(1)) }));
  const reader = new Reader();
  let authenticated = false;
  const seen: Buffer[] = [];
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      socket.off("data", onData);
      socket.destroy();
      reject(error);
    };
    const onData = (data: Buffer) => {
      reader.push(data);
      for (let m = reader.typed(); m; m = reader.typed()) {
        if (m.type === "E") return fail(Object.assign(new Error("PostgreSQL refused the session"), { refusal: errorText(m.body) }));
        if (authenticated) {
          // PostgreSQL checks the database after AuthenticationOk (55000, 3D000 come then): the session is
          // the client's only at ReadyForQuery, as the proxy's compute connection is (compute/mod.rs).
          seen.push(m.whole);
          if (m.type === "Z") {
            socket.off("data", onData);
            socket.off("error", fail);
            return resolve({ socket, first: Buffer.concat([...seen, reader.rest()]) });
          }
          continue;
        }
        if (m.type !== "R") return fail(new Error(`unexpected message ${m.type} before authentication`));
        const kind = m.body.readInt32BE(0);
        if (kind === 0) {
          authenticated = true;
          seen.push(m.whole);
          continue;
        }
        if (kind === 3) socket.write(message("p", Buffer.from(`${password}\0`, "utf8")));
        else if (kind === 5) {
          const inner = createHash("md5")
            .update(password + user)
            .digest("hex");
          const outer = createHash("md5").update(inner).update(m.body.subarray(4, 8)).digest("hex");
          socket.write(message("p", Buffer.from(`md5${outer}\0`, "utf8")));
        } else return fail(new Error(`PostgreSQL asks for authentication method ${kind}: the local WebSocket endpoint supports trust, password and md5`));
      }
    };
    socket.on("data", onData);
    socket.once("error", fail);
  });
}

/** What the endpoint passes the session's bytes to: PostgreSQL over TCP, or PGlite in this process. */
interface Backend {
  /** What it said from AuthenticationOk to its first ReadyForQuery. */
  first: Buffer;
  write(data: Buffer): void;
  /** `onData` gets every byte it answers; `onClose` is called once it has ended. */
  listen(onData: (data: Buffer) => void, onClose: () => void, onError: () => void): void;
  /** The client went away. */
  close(): void;
}

/** The endpoint's database: PostgreSQL at a URL, or PGlite's single session, leased (pglite-wire.ts). */
export type Target = { url: URL; lease?: undefined } | { lease: () => Promise<PgliteLease>; url?: undefined };

async function socketBackend(databaseUrl: URL, params: Record<string, string>): Promise<Backend> {
  const { socket, first } = await openBackend(databaseUrl, params);
  socket.setNoDelay(true);
  return {
    first,
    write: (data) => void socket.write(data),
    listen(onData, onClose, onError) {
      socket.on("data", onData);
      socket.on("close", onClose);
      socket.on("error", onError);
    },
    close: () => socket.destroy(),
  };
}

const greetings = new WeakMap<() => Promise<PgliteLease>, Promise<Buffer>>();

/**
 * PGlite answers as PostgreSQL would after the password, then takes the session's messages, COPY FROM
 * STDIN included (pglite-wire.ts). What the client sent before it went away still runs, as on a server.
 */
async function pgliteBackend(lease: () => Promise<PgliteLease>): Promise<Backend> {
  // The same parameters for every session: asked once, so a new connection never waits for another's transaction.
  if (!greetings.has(lease)) greetings.set(lease, PgliteSession.greeting(lease));
  const first = Buffer.concat([await greetings.get(lease)!, message("K", randomBytes(8)), message("Z", Buffer.from("I"))]);
  let onData: (data: Buffer) => void = () => {};
  const session = new PgliteSession(lease, (data) => onData(data));
  return {
    first,
    write: (data) => session.write(data),
    listen(data, onClose) {
      onData = data;
      void session.done.then(onClose, onClose);
    },
    close: () => void session.end(),
  };
}

/** One client's session: the handshake, then a pass-through with the faults' WebSocket meanings. */
async function session(ws: WebSocket, target: Target, options: WsServerOptions): Promise<void> {
  const reader = new Reader();
  const incoming: Buffer[] = [];
  let wake = () => {};
  let closed = false;
  ws.on("message", (data: Buffer) => {
    incoming.push(data);
    wake();
  });
  ws.on("close", () => {
    closed = true;
    wake();
  });
  /** Waits for client bytes until `take` finds a whole message. */
  const next = async <T>(take: () => T | undefined): Promise<T | undefined> => {
    for (;;) {
      while (incoming.length > 0) reader.push(incoming.shift()!);
      const found = take();
      if (found !== undefined || closed) return found;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  const send = (data: Buffer) => ws.readyState === ws.OPEN && ws.send(data);
  const refuse = (data: Buffer) => {
    send(data);
    ws.close();
  };

  // Startup: no TLS inside the WebSocket (the socket is already secure with wss://), as Neon answers.
  let params: Record<string, string> | undefined;
  while (!params) {
    const startup = await next(() => reader.untyped());
    if (!startup) return;
    const code = startup.readInt32BE(4);
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) send(Buffer.from("N"));
    else if (code === PROTOCOL_3) params = startupParams(startup.subarray(8));
    else return refuse(proxyRefusal(`unsupported startup message ${code}`));
  }
  send(message("R", int32(3)));
  const reply = await next(() => reader.typed());
  if (!reply) return;
  if (reply.type !== "p") return refuse(proxyRefusal("expected a password message"));
  const given = reply.body.subarray(0, reply.body.indexOf(0)).toString("utf8");
  // Neon's words (proxy/src/auth/mod.rs, AuthError::PasswordFailed), sent as every proxy refusal is (XX000).
  if (options.password !== undefined && given !== options.password)
    return refuse(proxyRefusal(`password authentication failed for user '${params.user ?? ""}'`));

  const faults = options.faults;
  const fault = faults?.connectionFault() ?? "none";
  if (fault === "slow") await new Promise((resolve) => setTimeout(resolve, faults!.delayMs));
  // PostgreSQL cannot be reached: the proxy ends the session after the password (XX000, like every refusal).
  if (fault === "500") return refuse(proxyRefusal("injected fault: PostgreSQL unreachable"));
  // Whatever the answer's SQLSTATE, the proxy sends XX000 with the text.
  if (fault === "answer") return refuse(proxyRefusal(faults!.answer.message));
  if (closed) return;

  let backend: Backend;
  try {
    backend = target.lease ? await pgliteBackend(target.lease) : await socketBackend(target.url, params);
  } catch (error) {
    // PostgreSQL's own refusal (53300, 55000, 57P03, 3D000, 28P01…) goes on as XX000 with PostgreSQL's
    // text, the "Couldn't connect to compute node: " prefix dropped (proxy/src/compute/mod.rs,
    // PostgresError::to_string_client); an unreachable PostgreSQL, with the library's text.
    const refusal = (error as { refusal?: string }).refusal;
    return refuse(proxyRefusal(refusal ?? `error connecting to server: ${(error as Error).message}`));
  }
  const end = () => {
    backend.close();
    ws.terminate();
  };
  if (closed) return end();
  send(backend.first);
  let dropAnswers = false;
  backend.listen(
    (data) => {
      if (dropAnswers) return end();
      send(data);
    },
    () => ws.close(),
    () => ws.terminate(),
  );
  ws.on("close", () => backend.close());

  // From here, client bytes pass through; with faults on, whole messages, so a fault lands at a message.
  wake = () => {};
  const forward = () => {
    while (incoming.length > 0) reader.push(incoming.shift()!);
    if (!faults) return void backend.write(reader.rest());
    for (let m = reader.typed(); m; m = reader.typed()) {
      // A transaction's fault is taken at its BEGIN, as the HTTP endpoint takes one per request.
      if (m.type === "Q" && /^\s*BEGIN/i.test(m.body.toString("utf8"))) {
        const taken = faults.transactionFault();
        if (taken === "40001") {
          send(Buffer.concat([errorResponse("ERROR", "injected fault: could not serialize access due to concurrent update", "40001"), readyForQuery()]));
          continue;
        }
        if (taken === "connection_lost") inCopyFault = "close";
        if (taken === "reset_after_commit") commitFault = true;
      }
      // Closed mid-COPY: the first CopyData never reaches PostgreSQL, and the connection ends.
      if (m.type === "d" && inCopyFault === "close") return end();
      const copies = m.type === "Q" ? (m.body.toString("utf8").match(/(^|;)\s*COPY\b/gi)?.length ?? 0) : 0;
      faults.copies += copies;
      if (copies > 0) faults.copyQueries++;
      // Error after COPY: the transaction commits, then the connection ends before its answer. A
      // query that runs BEGIN; COPY …; COMMIT at once commits once its last CopyDone arrives.
      if (m.type === "Q" && commitFault && /COMMIT\s*;?\s*\0?$/i.test(m.body.toString("utf8"))) {
        commitFault = false;
        if (copies > 0) copyDonesBeforeCommit = copies;
        else dropAnswers = true;
      }
      if (m.type === "c" && copyDonesBeforeCommit > 0 && --copyDonesBeforeCommit === 0) dropAnswers = true;
      backend.write(m.whole);
    }
  };
  let inCopyFault: "close" | undefined;
  let commitFault = false;
  let copyDonesBeforeCommit = 0;
  ws.on("message", forward);
  forward();
}

export interface WsEndpoint {
  server: Server;
  /** Ends every session, then stops listening. */
  close(): Promise<void>;
}

/** The WebSocket endpoint in front of PostgreSQL at `databaseUrl`; any path is accepted (Neon's client asks for /v2). */
export function createLocalNeonWsServer(database: string | Target, options: WsServerOptions = {}): WsEndpoint {
  const target: Target = typeof database === "string" ? { url: new URL(database) } : database;
  const server = createServer((_req, res) => res.writeHead(426, { "Content-Type": "text/plain" }).end("a WebSocket endpoint: upgrade required"));
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  server.on("upgrade", (req, socket, head) => {
    if (options.faults) options.faults.wsConnections++;
    // Connection refused: the endpoint is down; the client's WebSocket fails to open.
    if (options.faults?.refusesConnection()) return void socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on("error", () => ws.terminate());
      session(ws, target, options).catch(() => ws.terminate());
    });
  });
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  return {
    server,
    async close() {
      wss.close();
      // Upgraded sockets are the server's connections still: end them, or close() waits for them.
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Starts the endpoint; resolves with what `neonConfig.wsProxy` takes: host:port/v2 (no scheme). */
export async function listenWs(server: Server, port: number, host = "127.0.0.1"): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return `${host}:${(server.address() as AddressInfo).port}/v2`;
}
