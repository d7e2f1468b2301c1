/**
 * Server-Sent Events that never hold up ingestion: the pipeline queues events and goes on;
 * a writer sends them as fast as the client reads. Progress events coalesce by default (a slow
 * client gets the latest); rejected lines and per-line progress queue up to a bound, beyond
 * which progress coalesces and rejections are only counted.
 */
import type { SSEStreamingApi } from "hono/streaming";

const MAX_QUEUED = 1000;

export class SseEvents {
  private readonly sse: SSEStreamingApi;
  private rejections: unknown[] = [];
  private droppedRejections = 0;
  private progressEvents: unknown[] = [];
  private readonly coalesceProgress: boolean;
  private last?: { event: string; data: unknown };
  private writing?: Promise<void>;
  private id = 0;
  closed = false;

  constructor(sse: SSEStreamingApi, options: { coalesceProgress: boolean }) {
    this.sse = sse;
    this.coalesceProgress = options.coalesceProgress;
  }

  progress(data: unknown): void {
    if (this.coalesceProgress || this.progressEvents.length >= MAX_QUEUED) this.progressEvents.pop();
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
    while (this.writing) await this.writing;
  }

  private kick(): void {
    this.writing ??= this.writeAll().finally(() => (this.writing = undefined));
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
    for (let event = this.next(); event && !this.closed; event = this.next()) {
      try {
        await this.sse.writeSSE({ event: event.event, data: JSON.stringify(event.data), id: String(++this.id) });
      } catch {
        this.closed = true; // the client went away; the caller finds out through sse.aborted
      }
    }
  }
}
