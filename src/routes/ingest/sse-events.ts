/**
 * Server-Sent Events that never hold up ingestion: the pipeline queues events and goes on;
 * a writer sends them as fast as the client reads. Progress events coalesce by default (a slow
 * client gets the latest); rejected lines and per-line progress queue up to a bound, beyond
 * which progress coalesces and rejections are only counted.
 */
import type { SSEStreamingApi } from "hono/streaming";

type ProgressData = Record<string, unknown> & { errors?: unknown[] };

const MAX_QUEUED = 1000;
const MAX_ERRORS_PER_EVENT = 100;

export class SseEvents {
  private readonly sse: SSEStreamingApi;
  private rejections: unknown[] = [];
  private droppedRejections = 0;
  private progressEvents: ProgressData[] = [];
  private readonly coalesceProgress: boolean;
  private last?: { event: string; data: unknown };
  private writing?: Promise<void>;
  private id = 0;

  constructor(sse: SSEStreamingApi, options: { coalesceProgress: boolean }) {
    this.sse = sse;
    this.coalesceProgress = options.coalesceProgress;
  }

  progress(data: ProgressData): void {
    if (this.coalesceProgress || this.progressEvents.length >= MAX_QUEUED) {
      // The replaced event's rejected lines stay reported: "errors since the last event".
      const replaced = this.progressEvents.pop();
      if (replaced?.errors && data.errors) data.errors = [...replaced.errors, ...data.errors].slice(0, MAX_ERRORS_PER_EVENT);
    }
    this.progressEvents.push(data);
    this.kick();
  }

  rejected(data: unknown): void {
    if (this.rejections.length < MAX_QUEUED) this.rejections.push(data);
    else this.droppedRejections++;
    this.kick();
  }

  /** The closing event (summary or failure); sent after everything queued before it. */
  end(event: string, data: unknown): void {
    this.last = { event, data };
    this.kick();
  }

  /** Resolves once every queued event is written (or the client is gone). */
  async drain(): Promise<void> {
    while (this.writing || (this.queued() && !this.sse.aborted)) {
      this.kick();
      await this.writing;
    }
  }

  private queued(): boolean {
    return this.rejections.length > 0 || this.droppedRejections > 0 || this.progressEvents.length > 0 || this.last !== undefined;
  }

  private kick(): void {
    this.writing ??= this.writeAll().finally(() => {
      this.writing = undefined;
      // An event queued after the loop's last look but before this ran must not wait for the next one.
      if (this.queued() && !this.sse.aborted) this.kick();
    });
  }

  private next(): { event: string; data: unknown } | undefined {
    if (this.rejections.length > 0) return { event: "rejected", data: this.rejections.shift() };
    if (this.droppedRejections > 0) {
      const data = { not_sent: this.droppedRejections, message: "more rejected lines than the client read; see the counts in progress and summary" };
      this.droppedRejections = 0;
      return { event: "rejected_overflow", data };
    }
    if (this.progressEvents.length > 0) return { event: "progress", data: this.progressEvents.shift() };
    const last = this.last;
    this.last = undefined;
    return last;
  }

  private async writeAll(): Promise<void> {
    // Hono's writer swallows a gone client's errors; sse.aborted is how we learn of it.
    for (let event = this.next(); event && !this.sse.aborted; event = this.next()) {
      await this.sse.writeSSE({ event: event.event, data: JSON.stringify(event.data), id: String(++this.id) });
    }
  }
}
