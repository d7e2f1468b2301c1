/** /ingest/stream end to end: one chunked upload (node:http), its Server-Sent Events read until `summary`. */
import { createReadStream } from "node:fs";
import http from "node:http";
import type { Readable } from "node:stream";
import { createParser } from "eventsource-parser";
import type { Driven } from "../report.ts";

export interface StreamOutcome {
  /** The last event, "summary" or "failure", and its data. */
  event: string;
  data: Record<string, number | string>;
  progressEvents: number;
  /** Milliseconds from the request's start to the first progress event and to the end of the upload. */
  firstProgressMs: number;
  uploadDoneMs: number;
}

/** Pipes `source` to /ingest/stream as a chunked body and resolves with the final event. */
export function streamUpload(url: URL, source: Readable, headers: Record<string, string>): Promise<StreamOutcome> {
  const started = performance.now();
  let progressEvents = 0;
  let firstProgressMs = 0;
  let uploadDoneMs = 0;
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: "POST", headers });
    request.on("error", reject);
    request.on("finish", () => (uploadDoneMs = performance.now() - started));
    request.on("response", (response) => {
      let last: Pick<StreamOutcome, "event" | "data"> | undefined;
      const parser = createParser({
        onEvent(e) {
          if (e.event === "progress" && progressEvents++ === 0) firstProgressMs = performance.now() - started;
          if (e.event === "summary" || e.event === "failure") last = { event: e.event, data: JSON.parse(e.data) };
        },
      });
      response.setEncoding("utf8");
      response.on("data", (d: string) => parser.feed(d));
      response.on("end", () =>
        last
          ? resolve({ ...last, progressEvents, firstProgressMs, uploadDoneMs })
          : reject(new Error(`/ingest/stream: HTTP ${response.statusCode} and no summary event`)),
      );
    });
    source.pipe(request);
  });
}

export async function streamFile(baseUrl: string, file: string, lines: number): Promise<Driven> {
  const started = performance.now();
  const outcome = await streamUpload(new URL("/ingest/stream", baseUrl), createReadStream(file), { "Content-Type": "text/plain" });
  const seconds = (performance.now() - started) / 1000;
  if (outcome.event !== "summary" || outcome.data.inserted !== lines) {
    throw new Error(`/ingest/stream: expected ${lines} lines inserted, got ${outcome.event} ${JSON.stringify(outcome.data)}`);
  }
  return { seconds, notes: `1 request, ${outcome.progressEvents} progress events, upload done at ${(outcome.uploadDoneMs / 1000).toFixed(2)} s` };
}
