/** Reads a Server-Sent Events response with a real SSE parser (eventsource-parser). */
import { createParser, type EventSourceMessage } from "eventsource-parser";

export interface SseEvent {
  event: string;
  // biome-ignore lint/suspicious/noExplicitAny: each event's JSON has its own shape; tests match it with toMatchObject.
  data: any;
  id?: string;
}

export async function readEvents(body: ReadableStream<Uint8Array>, onEvent?: (e: SseEvent) => void): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const parser = createParser({
    onEvent(message: EventSourceMessage) {
      const event = { event: message.event ?? "message", data: JSON.parse(message.data), id: message.id };
      events.push(event);
      onEvent?.(event);
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of body) parser.feed(decoder.decode(chunk, { stream: true }));
  return events;
}
