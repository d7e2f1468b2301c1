/**
 * Test-only fault injection for the local Neon endpoint: POST /__faults {"fault": …, "times": n, "skip": k}
 * (GET /__faults: the fault, and the COPY statements the WebSocket endpoint has seen; GET /__counters: the
 * HTTP requests and WebSocket connections both endpoints served)
 * lets k SQL requests through, then makes the next n (all, without "times") fail in a chosen way,
 * so tests can fail the database at chosen points. Never on unless the endpoint is started with faults enabled.
 * The WebSocket endpoint (ws-server.ts) shares the switch and gives each fault its WebSocket meaning:
 * "down" refuses the connection, "slow", "500" and "answer" strike after the password, once per
 * connection ("500" and "answer" as the proxy's ERROR XX000 with the text, whatever the answer's code); "40001" answers a transaction's BEGIN, "connection_lost" closes the connection
 * mid-COPY, and "reset_after_commit" closes it after COMMIT ran, before its answer: once per transaction.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

export type Fault =
  | "none"
  /** The connection is dropped before anything runs. */
  | "down"
  /** Nothing runs until `delayMs` has passed; a client that gave up by then gets nothing run. */
  | "slow"
  /** HTTP 500 before anything runs, as when Neon cannot reach PostgreSQL. */
  | "500"
  /** The statements run and commit, then the connection is dropped before the answer: the ambiguous case. */
  | "reset_after_commit"
  /** A serialization failure (40001) before anything runs. */
  | "40001"
  /** The connection to the database breaks while the first statement runs: Neon's 400 with an empty code. */
  | "connection_lost"
  /** Before anything runs, an answer only Neon's cloud gives (`answer`: message, status, code), e.g. "Too many connections to this endpoint. …". */
  | "answer";

const FAULTS: Fault[] = ["none", "down", "slow", "500", "reset_after_commit", "40001", "connection_lost", "answer"];

export interface Answer {
  /** Without it, Neon's status for the text: 500 for a control-plane failure, 400 otherwise. */
  status?: number;
  message: string;
  code?: string;
}

export class FaultSwitch {
  fault: Fault = "none";
  remaining = Infinity;
  skip = 0;
  delayMs = 0;
  answer: Required<Pick<Answer, "status" | "message">> & Answer = { status: 400, message: "" };
  /** COPY statements the WebSocket endpoint has passed on: how the tests see that the COPY writer was used. */
  copies = 0;
  /** Queries holding them (several COPYs may share one). */
  copyQueries = 0;
  /**
   * What both endpoints served since they started (GET /__counters): SQL-over-HTTP requests and
   * WebSocket connections, each one subrequest of the Worker that made it (Workers count every
   * fetch and every WebSocket it opens against its per-request limit).
   */
  httpRequests = 0;
  wsConnections = 0;

  /** Handles GET /__counters. */
  counters(res: ServerResponse): void {
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ http_requests: this.httpRequests, ws_connections: this.wsConnections }));
  }

  /** The fault for the next SQL request, counting it down. */
  take(): Fault {
    if (this.fault === "none" || this.remaining <= 0) return "none";
    if (this.skip > 0) {
      this.skip--;
      return "none";
    }
    this.remaining--;
    return this.fault;
  }

  /** The WebSocket endpoint's view: does this connection attempt meet "down"? */
  refusesConnection(): boolean {
    return this.fault === "down" && this.take() === "down";
  }

  /** The fault of a new WebSocket session, after its password: "slow", "500" or "answer". */
  connectionFault(): Fault {
    return ["slow", "500", "answer"].includes(this.fault) ? this.take() : "none";
  }

  /** The fault of one transaction on a WebSocket session: "40001", "connection_lost" or "reset_after_commit". */
  transactionFault(): Fault {
    return ["40001", "connection_lost", "reset_after_commit"].includes(this.fault) ? this.take() : "none";
  }

  /** Handles POST /__faults; answers 400 for an unknown fault. */
  async control(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === "GET")
      return void res
        .writeHead(200, { "Content-Type": "application/json" })
        .end(JSON.stringify({ fault: this.fault, copies: this.copies, copyQueries: this.copyQueries }));
    let body = "";
    for await (const chunk of req) body += chunk;
    let parsed: { fault?: Fault; times?: number; skip?: number; delayMs?: number; answer?: Answer } = {};
    try {
      parsed = JSON.parse(body || "{}");
    } catch {
      parsed = { fault: "not JSON" as Fault };
    }
    const { fault = "none", times, skip = 0, delayMs = 0, answer } = parsed;
    if (!FAULTS.includes(fault)) {
      res.writeHead(400, { "Content-Type": "application/json" }).end(JSON.stringify({ message: `unknown fault ${fault} (known: ${FAULTS.join(", ")})` }));
      return;
    }
    if (fault === "answer" && !(typeof answer?.message === "string" && (answer.status === undefined || typeof answer.status === "number"))) {
      res.writeHead(400, { "Content-Type": "application/json" }).end(JSON.stringify({ message: 'fault "answer" needs answer: {message, status?, code?}' }));
      return;
    }
    // Control-plane failures are 500 over HTTP (proxy/src/control_plane/errors.rs: GetAuthInfoError's
    // kind is always ErrorKind::ControlPlane, which sql_over_http.rs get_http_status_code answers 500).
    if (answer) this.answer = { ...answer, status: answer.status ?? (answer.message.startsWith("Control plane request failed") ? 500 : 400) };
    this.fault = fault;
    this.remaining = times ?? Infinity;
    this.skip = skip;
    this.delayMs = delayMs;
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ fault, times: times ?? null, delayMs }));
  }
}
