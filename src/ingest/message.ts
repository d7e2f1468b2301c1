/** The message flow: one message, written with its derived rows in one transaction, answered with the record's real id. */
import { canWrite } from "../auth/api-keys.ts";
import { groupRows } from "../entity/entity.ts";
import { IngestError, TransientDatabaseError } from "../errors.ts";
import { messageLimit } from "../limits/caps.ts";
import { RowsRejected, type SingleWrite } from "../writer/port.ts";
import { type LineError, withSource } from "../writer/rows.ts";
import { decodeLines, readBody } from "./body.ts";
import { type Accepted, accepted, type IngestCall, quarantineOf, withWriter } from "./call.ts";
import { parseBody } from "./parse-messages.ts";
import { scopeRefusal } from "./scope.ts";

/** A written message's answer (the routes' MessageResult). */
export interface MessageWritten {
  status: "success";
  entity: string;
  id: number | string;
  duplicate?: true;
  derived?: SingleWrite["children"];
  timestamp: string;
}

export type MessageOutcome = Accepted | { kind: "written"; body: MessageWritten };

/** One message: written with its derived rows in one transaction, answered with the record's real id. */
export async function ingestMessage(call: IngestCall): Promise<MessageOutcome> {
  const { settings, meter, principal } = call;
  // One message is at most one line's worth.
  const { text, invalidLines } = decodeLines(await readBody(call.request, messageLimit(settings), meter));
  const parsed = parseBody(call.format, text, invalidLines, { forced: call.forced });
  if (parsed.messages === 0) throw new IngestError("invalid_message", "the body holds no message");
  if (parsed.messages > 1) throw new IngestError("invalid_message", `the body holds ${parsed.messages} messages; send one here, or POST them to /ingest/batch`);
  const quarantine = quarantineOf(call);
  /** A refused message is kept like a rejected line of a batch (its body is the line). */
  const refuse = async (entity: string, error: LineError, code: "invalid_message" | "forbidden", details: Record<string, unknown> = {}) => {
    meter.messages[entity] = { inserted: 0, duplicates: 0, failed: 1 };
    quarantine.add([error]);
    await quarantine.flush();
    return new IngestError(code, error.message, { entity: error.entity, ...details, ...quarantine.summary() });
  };
  const error = parsed.errors[0];
  if (error) {
    const { line, field, position } = error;
    throw await refuse(error.entity ?? "(unknown)", error, "invalid_message", { line, field, position });
  }
  const outOfScope = parsed.rows.find((r) => !canWrite(principal, r.entity.name));
  if (outOfScope) {
    const name = outOfScope.entity.name;
    throw await refuse(
      name,
      withSource({ line_number: 1, entity: name, message: scopeRefusal(principal, outOfScope.entity), line: "" }, { raw: text, reason: "scope" }),
      "forbidden",
    );
  }
  const [parent, ...derived] = parsed.rows;
  const children = [...groupRows(derived)].map(([entity, rows]) => ({ entity, rows }));
  let written: SingleWrite;
  try {
    written = await withWriter(call, (writer) => writer.writeOne(parent.entity, parent.json, children));
  } catch (error) {
    if (error instanceof TransientDatabaseError && settings.ASYNC_FALLBACK) return accepted(call, parsed.rows, [], 0, true, quarantine);
    if (!(error instanceof RowsRejected)) throw error;
    const name = parent.entity.name;
    const message = `the database rejected the row: ${error.message} (SQLSTATE ${error.sqlState})`;
    throw await refuse(
      name,
      withSource({ line_number: 1, entity: name, message, line: "" }, { raw: text, reason: "database", sqlState: error.sqlState }),
      "invalid_message",
    );
  }
  meter.messages[parent.entity.name] = { inserted: written.duplicate ? 0 : 1, duplicates: written.duplicate ? 1 : 0, failed: 0 };
  for (const [name, counts] of Object.entries(written.children)) meter.messages[name] = { ...counts, failed: 0 };
  const body: MessageWritten = {
    status: "success",
    entity: parent.entity.name,
    id: written.id,
    ...(written.duplicate ? { duplicate: true as const } : {}),
    ...(children.length > 0 ? { derived: written.children } : {}),
    timestamp: new Date(call.now()).toISOString(),
  };
  return { kind: "written", body };
}
