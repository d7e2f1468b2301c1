/** /ingest/message latency: one line per request, `clients` requests in flight. */
import type { Driven } from "../report.ts";

/** The value below which a fraction `p` of the sorted latencies lie (nearest rank). */
const percentile = (sorted: Float64Array, p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];

export async function postMessages(baseUrl: string, lines: readonly string[], clients: number, headers: Record<string, string> = {}): Promise<Driven & { p50: number; p99: number }> {
  const latencies = new Float64Array(lines.length);
  let next = 0;
  const client = async () => {
    for (let i = next++; i < lines.length; i = next++) {
      const sent = performance.now();
      const response = await fetch(`${baseUrl}/ingest/message`, { method: "POST", headers: { "Content-Type": "text/plain", ...headers }, body: lines[i] });
      const text = await response.text();
      latencies[i] = performance.now() - sent;
      if (response.status !== 200) throw new Error(`/ingest/message ${JSON.stringify(lines[i])}: HTTP ${response.status}: ${text.slice(0, 500)}`);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(clients, lines.length) }, client));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort();
  const ms = (p: number) => percentile(latencies, p).toFixed(1);
  return { seconds, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), notes: `${clients} clients: p50 ${ms(0.5)} ms, p99 ${ms(0.99)} ms, max ${ms(1)} ms` };
}
