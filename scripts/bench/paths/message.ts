/**
 * /ingest/message latency: one line per request, `clients` requests in flight. The client is
 * node:http with keep-alive, which costs this process about a quarter of fetch's CPU per request
 * (0.3 vs 1.1 ms measured): on a 2-core machine the client's CPU is taken from the server.
 */
import { Agent, request } from "node:http";
import type { Driven } from "../report.ts";

/** The value below which a fraction `p` of the sorted latencies lie (nearest rank). */
const percentile = (sorted: Float64Array, p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];

function post(agent: Agent, url: URL, body: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { agent, method: "POST", headers: { "Content-Type": "text/plain", "Content-Length": Buffer.byteLength(body), ...headers } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * `clients` connections send the lines, each request as soon as a connection is free; or, with
 * `ratePerSecond`, at that pace: line i is due at i / rate seconds, and its latency counts from
 * then, not from when a connection was free to send it, so a slow answer that holds the next
 * ones back is counted in theirs too (no coordinated omission, as wrk2 measures).
 */
export async function postMessages(
  baseUrl: string,
  lines: readonly string[],
  clients: number,
  headers: Record<string, string> = {},
  path = "/ingest/message",
  ratePerSecond?: number,
  /** The status each line must get (by its index): 200 unless said otherwise, e.g. 400 for a line made invalid on purpose. */
  expectedStatus: (index: number) => number = () => 200,
): Promise<Driven & { p50: number; p99: number }> {
  const url = new URL(path, baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const latencies = new Float64Array(lines.length);
  let next = 0;
  let started = 0;
  const client = async () => {
    for (let i = next++; i < lines.length; i = next++) {
      let due = performance.now();
      if (ratePerSecond !== undefined) {
        due = started + (i * 1000) / ratePerSecond;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      const { status, text } = await post(agent, url, lines[i], headers);
      latencies[i] = performance.now() - due;
      if (status !== expectedStatus(i)) throw new Error(`${path} ${JSON.stringify(lines[i])}: HTTP ${status}: ${text.slice(0, 500)}`);
    }
  };
  started = performance.now();
  try {
    await Promise.all(Array.from({ length: Math.min(clients, lines.length) }, client));
  } finally {
    agent.destroy();
  }
  const seconds = (performance.now() - started) / 1000;
  latencies.sort();
  const ms = (p: number) => percentile(latencies, p).toFixed(1);
  const pace = ratePerSecond === undefined ? "" : `, paced at ${ratePerSecond} messages/s`;
  return {
    seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    notes: `${clients} clients${pace}: p50 ${ms(0.5)} ms, p99 ${ms(0.99)} ms, max ${ms(1)} ms`,
  };
}
