/** Fault injection on a local Neon endpoint started with faults on (scripts/local-neon/faults.ts), from node or workerd. */
import { expect } from "vitest";
import type { Answer, Fault } from "../../scripts/local-neon/faults.ts";

export type FaultOptions = { times?: number; delayMs?: number; skip?: number; answer?: Answer };

/** Makes the endpoint at `endpoint` (its /sql URL) fail on purpose; "none" ends it. */
export async function faultAt(endpoint: string, name: Fault, options: FaultOptions = {}): Promise<void> {
  const res = await fetch(new URL("/__faults", endpoint), { method: "POST", body: JSON.stringify({ fault: name, ...options }) });
  expect(res.status).toBe(200);
}
