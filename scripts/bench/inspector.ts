/**
 * The Worker isolate's V8 heap, read through the DevTools protocol while a path runs.
 *
 * Cloudflare's 128 MB limit is on the isolate's memory, which workerd's resident memory does not
 * show (V8 frees lazily; workerd's buffers and, under `wrangler dev`, the proxy are in it too).
 * `Runtime.getHeapUsage` gives the isolate's heap: what the Worker's JavaScript holds, garbage
 * not yet collected included, and the ArrayBuffers' bytes outside it (`backingStorageSize`).
 *
 * We connect to wrangler dev's inspector proxy, not to the Worker workerd's own inspector:
 * workerd keeps one session per isolate and a new one drops the old, so a direct connection would
 * cut wrangler's session (which reports uncaught exceptions), and workerd then also drops the
 * new one once (the old session's teardown disconnects whichever session is current): that is
 * why a first direct connection can close without answering. The proxy shares wrangler's
 * session, one DevTools client at a time. It costs CPU outside the Worker: the proxy relays each
 * message and posts a debug log of it to wrangler (about 0.05 s of proxy and 0.1 s of wrangler CPU
 * per second at 20 polls a second).
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import type { Socket } from "node:net";
import type { WebSocket as NodeWebSocket } from "undici-types";

// The project's types give WebSocket the Workers runtime's constructor; this is Node's (undici's).
const WebSocket = globalThis.WebSocket as unknown as typeof NodeWebSocket;
type WebSocket = NodeWebSocket;

export interface HeapUsage {
  /** Bytes of V8 heap in use (live objects and garbage not yet collected). */
  usedSize: number;
  /** Bytes of V8 heap reserved. */
  totalSize: number;
  /** Bytes of ArrayBuffer contents (chunks of the body), held outside the V8 heap. */
  backingStorageSize: number;
}

const TIMEOUT_MS = 5000;

/** The TCP ports `pid` listens on, read from /proc (no `ss` or `lsof` needed). */
function listeningPorts(pid: number): number[] {
  const ports = new Map<string, number>(); // socket inode → port
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // f[1] local address "HEXIP:HEXPORT", f[3] state (0A: LISTEN), f[9] inode.
      if (f[3] === "0A") ports.set(f[9], parseInt(f[1].split(":")[1], 16));
    }
  }
  const found: number[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const port = ports.get(/^socket:\[(\d+)\]$/.exec(target)?.[1] ?? "");
    if (port !== undefined) found.push(port);
  }
  return found;
}

/**
 * The workerd that serves `devPort` (wrangler dev's proxy) and its inspector proxy's WebSocket URL.
 * wrangler picks the inspector port itself (9229, or the next free one when other stacks run), so
 * it is read from the sockets that this one workerd listens on: other stacks' are never picked.
 */
export async function findInspector(devPort: number): Promise<{ proxyPid: number; url: string }> {
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    let ports: number[];
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "workerd") continue;
      ports = listeningPorts(pid);
    } catch {
      continue; // exited, or not ours to read
    }
    if (!ports.includes(devPort)) continue;
    for (const port of ports.filter((p) => p !== devPort)) {
      const version = (await fetch(`http://127.0.0.1:${port}/json/version`, { signal: AbortSignal.timeout(TIMEOUT_MS) }).then(
        (r) => (r.ok ? r.json() : undefined),
        () => undefined,
      )) as { Browser?: string } | undefined;
      if (version?.Browser?.startsWith("wrangler/")) return { proxyPid: pid, url: `ws://127.0.0.1:${port}/ws` };
    }
    throw new Error(
      `the workerd serving port ${devPort} (pid ${pid}) has no wrangler inspector proxy among its other ports (${ports.join(", ")}): is it wrangler dev's?`,
    );
  }
  throw new Error(`no workerd listens on port ${devPort}: start the stack first`);
}

/** One DevTools connection: each command matched to its answer by id, within a timeout. */
export class Inspector {
  private readonly socket: WebSocket;
  private readonly tcp?: Socket;
  private readonly pending = new Map<number, { resolve(result: unknown): void; reject(error: Error): void }>();
  private nextId = 1;
  private closed?: string;

  private constructor(socket: WebSocket, tcp: Socket | undefined) {
    this.socket = socket;
    this.tcp = tcp;
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
      // Events (no id) and answers to the proxy's own commands (ids from 10^8) are not ours.
      const waiting = message.id === undefined ? undefined : this.pending.get(message.id);
      if (!waiting) return;
      this.pending.delete(message.id!);
      if (message.error) waiting.reject(new Error(message.error.message));
      else waiting.resolve(message.result);
    });
    socket.addEventListener("close", (event) => {
      // 1013: wrangler's proxy takes one DevTools client at a time.
      this.closed =
        event.code === 1013
          ? "another DevTools client is connected to wrangler's inspector proxy; close it"
          : `the inspector closed the connection (${event.code} ${event.reason})`;
      for (const waiting of this.pending.values()) waiting.reject(new Error(this.closed));
      this.pending.clear();
    });
  }

  static open(url: string, timeoutMs = TIMEOUT_MS): Promise<Inspector> {
    // The upgrade's TCP connection, for `close` (see there), from undici's diagnostics channel.
    const { host, pathname } = new URL(url);
    let tcp: Socket | undefined;
    const sent = (message: unknown) => {
      const { request, socket } = message as { request: { origin: string; path: string }; socket: Socket };
      if (request.origin === `http://${host}` && request.path === pathname) tcp = socket;
    };
    subscribe("undici:client:sendHeaders", sent);
    // wrangler's proxy refuses an upgrade that has a User-Agent (Node's WebSocket sends one) but
    // no Origin, or an Origin other than its own hosts and Cloudflare's DevTools (400 or 401).
    const socket = new WebSocket(url, { headers: { Origin: "http://127.0.0.1" } });
    return new Promise<Inspector>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.close();
        tcp?.destroy();
        reject(new Error(`the inspector at ${url} did not accept a connection within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.addEventListener("open", () => {
        clearTimeout(timer);
        resolve(new Inspector(socket, tcp));
      });
      // The event says nothing more: a refused upgrade and a closed port look the same.
      socket.addEventListener("error", () => {
        clearTimeout(timer);
        reject(new Error(`could not connect to the inspector at ${url} (refused, or not a WebSocket)`));
      });
    }).finally(() => unsubscribe("undici:client:sendHeaders", sent));
  }

  /** Sends a command; rejects on a protocol error, a closed connection, or no answer in time. */
  call<T>(method: string, params: Record<string, unknown> = {}, timeoutMs = TIMEOUT_MS): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`${method}: ${this.closed}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        // wrangler's proxy accepts us and forwards to the Worker even when its own session to the
        // Worker is gone (dropped when something connected to workerd's inspector directly).
        reject(
          new Error(
            `${method}: no answer from the Worker's isolate within ${timeoutMs} ms; wrangler's session to it may be gone (did something connect to workerd's own inspector?): restart the stack`,
          ),
        );
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (result) => {
          clearTimeout(timer);
          resolve(result as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(new Error(`${method}: ${error.message}`));
        },
      });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  async heapUsage(): Promise<HeapUsage> {
    const usage = await this.call<Partial<HeapUsage>>("Runtime.getHeapUsage");
    return { usedSize: usage.usedSize ?? 0, totalSize: usage.totalSize ?? 0, backingStorageSize: usage.backingStorageSize ?? 0 };
  }

  /**
   * wrangler's proxy hands our close to its Durable Object, which frees the DevTools slot but never
   * answers with its own close frame; Node's WebSocket would wait for it forever and keep the
   * process alive. So once our close frame is flushed, the connection is dropped here.
   */
  close(): void {
    this.socket.close(1000, "done");
    this.tcp?.end(() => this.tcp?.destroy());
  }
}

export interface HeapReport {
  /** After a full garbage collection, before the path. */
  before: HeapUsage;
  /** The largest value of each field during the path (not necessarily at the same moment). */
  peak: HeapUsage;
  /** With `gcEveryMs`: the largest used heap right after a forced collection, what the Worker held. */
  livePeak?: number;
  /** With `gcEveryMs`: the largest sum of used heap and ArrayBuffers right after a forced collection. */
  liveWithBuffersPeak?: number;
  samples: number;
}

/**
 * Collects garbage (so the baseline holds live objects only, whatever ran before), reads the heap,
 * then polls it every `everyMs` until `stop`. A poll waits for the isolate between two of its
 * tasks, so it sees the heap at the Worker's await points, not inside a synchronous parse.
 * `gcEveryMs` also forces a full collection that often, to see the live heap: it costs the Worker
 * time and keeps the heap smaller, so the other figures are no longer those of an undisturbed run.
 * `workerUrl`: the Worker, for one GET /health (see below).
 */
export async function watchHeap(
  inspectorUrl: string,
  workerUrl: string,
  options: { everyMs?: number; gcEveryMs?: number } = {},
): Promise<{ stop(): Promise<HeapReport> }> {
  const { everyMs = 50, gcEveryMs } = options;
  const inspector = await Inspector.open(inspectorUrl);
  // V8 collects in a task of the isolate, and workerd runs those only while the isolate has
  // work: an idle Worker never answers. The forced collections below run while a path keeps it busy.
  const collectGarbage = () => inspector.call("HeapProfiler.collectGarbage", {}, 30_000);
  try {
    // The Worker is idle here: /health gives it work (it is cheap and writes nothing).
    const collected = collectGarbage();
    await fetch(new URL("/health", workerUrl)).then((r) => r.arrayBuffer());
    await collected;
    const before = await inspector.heapUsage();
    const peak = { ...before };
    let livePeak: number | undefined;
    let liveWithBuffersPeak: number | undefined;
    let samples = 0;
    let stopping = false;
    const poll = async () => {
      let lastGc = performance.now();
      while (!stopping) {
        try {
          const now = await inspector.heapUsage();
          samples++;
          for (const key of ["usedSize", "totalSize", "backingStorageSize"] as const) peak[key] = Math.max(peak[key], now[key]);
          if (gcEveryMs !== undefined && performance.now() - lastGc >= gcEveryMs) {
            await collectGarbage();
            const live = await inspector.heapUsage();
            livePeak = Math.max(livePeak ?? 0, live.usedSize);
            liveWithBuffersPeak = Math.max(liveWithBuffersPeak ?? 0, live.usedSize + live.backingStorageSize);
            lastGc = performance.now();
          }
        } catch (error) {
          if (stopping) return; // stop closed the connection under a command: the path is over
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, everyMs));
      }
    };
    const polling = poll();
    polling.catch(() => {}); // awaited by stop; this only keeps it from being reported unhandled meanwhile
    return {
      async stop() {
        stopping = true;
        // Closing ends a command in flight (a collection would wait for the next request).
        inspector.close();
        await polling;
        return { before, peak, livePeak, liveWithBuffersPeak, samples };
      },
    };
  } catch (error) {
    inspector.close();
    throw error;
  }
}

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

/** "heap used 4.3 → 95.1 MB, total 5.2 → 125.0 MB, ArrayBuffers 0.8 → 5.5 MB (before, after a GC → peak; 177 samples)" */
export const heapLine = (r: HeapReport) =>
  `heap used ${mb(r.before.usedSize)} → ${mb(r.peak.usedSize)} MB, total ${mb(r.before.totalSize)} → ${mb(r.peak.totalSize)} MB, ArrayBuffers ${mb(r.before.backingStorageSize)} → ${mb(r.peak.backingStorageSize)} MB (before, after a GC → peak; ${r.samples} samples)` +
  (r.livePeak === undefined ? "" : `; live (used right after a forced GC) peak ${mb(r.livePeak)} MB`) +
  (r.liveWithBuffersPeak === undefined ? "" : `, with the ArrayBuffers ${mb(r.liveWithBuffersPeak)} MB`);
