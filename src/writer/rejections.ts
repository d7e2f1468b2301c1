/** The quarantine's record types: what a rejected line is stored as, where it came from, how stored ones are filtered. Shared by the ingest collector, the stores in db/ and the queue. */
import type { RejectionReason } from "./rows.ts";

/** One rejected line, as stored and as sent through the queue. */
export interface RejectionRecord {
  line_number: number;
  entity: string | null;
  field: string | null;
  position: number | null;
  message: string;
  sqlstate: string | null;
  reason: RejectionReason;
  /** How `raw` is read again on replay: a pipe line, or a JSON record (or document). */
  format: "text" | "json";
  /** The bytes kept, base64. */
  raw: string;
  raw_truncated: boolean;
  /** Bytes of the line as received (for a line over MAX_LINE_BYTES: what was kept of it). */
  raw_bytes: number;
}

/** The request a rejection came from. */
export interface RejectionOrigin {
  requestId: string;
  keyId: string | null;
  /** ?entity= of the request, applied again on replay. */
  forcedEntity: string | null;
  /** ISO time the request was received. */
  receivedAt: string;
  registryVersion: string;
}

/** Which rejections a request may see, and which it asks for. */
export interface RejectionFilter {
  request_id?: string;
  entity?: string;
  key?: string;
  since?: string;
  until?: string;
  /** Only ids after this one (the cursor, oldest first). */
  after?: number;
  /** Only ids before this one (the cursor, newest first). */
  before?: number;
  /** Only those not replayed yet. */
  pending?: boolean;
  /** A key sees only its own rejections; undefined: every key's (admin). */
  ownKey?: string | null;
}

/** A rejection as the table holds it: the record, and where it came from and when. */
export interface StoredRejection extends RejectionRecord {
  id: number;
  request_id: string;
  api_key_id: string | null;
  forced_entity: string | null;
  received_at: string;
  registry_version: string;
  replayed_at: string | null;
}
