/** POST /ingest/message and POST /ingest/batch: decode → parse → write → an honest answer. */
import type { Context } from "hono";
import { database, neonRunner, writeOne } from "../db/neon.ts";
import { settingsOf } from "../env.ts";
import { IngestError } from "../errors.ts";
import type { AppEnv } from "../app.ts";
import { RowsRejected, writeRows, type EntityCounts } from "../ingest/batch-writer.ts";
import { bodyFormat } from "../ingest/content-type.ts";
import { decodeBody, readBody } from "../ingest/decode-body.ts";
import type { EntityDef } from "../ingest/entity.ts";
import type { Row } from "../ingest/field-checks.ts";
import { parseBody, type LineError, type ParsedBody } from "../ingest/parse-messages.ts";
import { entityByName, NAMES } from "../ingest/registry.ts";

/** ?entity=Order (or O) makes every JSON record of the request that entity. */
function forcedEntity(c: Context<AppEnv>): EntityDef | undefined {
  const name = c.req.query("entity");
  if (name === undefined) return undefined;
  const entity = entityByName(name);
  if (!entity) throw new IngestError("bad_request", `unknown entity ${JSON.stringify(name)} in ?entity= (known: ${NAMES})`);
  return entity;
}

async function parseRequest(c: Context<AppEnv>): Promise<ParsedBody> {
  const settings = settingsOf(c.env);
  const format = bodyFormat(c.req.header("content-type"));
  const forced = forcedEntity(c);
  const { text, invalidLines } = decodeBody(await readBody(c.req.raw, settings.MAX_BODY_BYTES));
  return parseBody(format, text, invalidLines, forced);
}

export async function ingestMessage(c: Context<AppEnv>) {
  const parsed = await parseRequest(c);
  if (parsed.messages === 0) throw new IngestError("invalid_message", "the body holds no message");
  if (parsed.messages > 1) throw new IngestError("invalid_message", `the body holds ${parsed.messages} messages; send one here, or POST them to /ingest/batch`);
  const error = parsed.errors[0];
  if (error) {
    const { message, entity, line, field, position } = error;
    throw new IngestError("invalid_message", message, { entity, line, field, position });
  }
  const [parent, ...derived] = parsed.rows;
  const children = new Map<EntityDef, Row[]>();
  for (const r of derived) {
    if (!children.has(r.entity)) children.set(r.entity, []);
    children.get(r.entity)!.push(r.row);
  }
  const settings = settingsOf(c.env);
  let written;
  try {
    written = await writeOne(database(settings), parent.entity, parent.row, [...children].map(([entity, rows]) => ({ entity, rows })));
  } catch (error) {
    if (error instanceof RowsRejected) {
      throw new IngestError("invalid_message", `the database rejected the row: ${error.message} (SQLSTATE ${error.sqlState})`, { entity: parent.entity.name });
    }
    throw error;
  }
  return c.json({
    status: "success",
    entity: parent.entity.name,
    id: written.id,
    ...(written.duplicate ? { duplicate: true } : {}),
    ...(children.size > 0 ? { derived: written.children } : {}),
    timestamp: new Date().toISOString(),
  });
}

export async function ingestBatch(c: Context<AppEnv>) {
  const started = Date.now();
  const parsed = await parseRequest(c);
  if (parsed.messages === 0) throw new IngestError("invalid_message", "the body holds no messages");
  const written = await writeRows(parsed.rows, neonRunner(database(settingsOf(c.env))));
  const errors: LineError[] = [...parsed.errors, ...written.failed].sort((a, b) => a.line_number - b.line_number);
  const entities: Record<string, EntityCounts> = written.byEntity;
  for (const e of parsed.errors) {
    const counts = (entities[e.entity ?? "(unknown)"] ??= { inserted: 0, duplicates: 0, failed: 0 });
    counts.failed++;
  }
  const failed = errors.length;
  const committed = written.inserted + written.duplicates;
  const status = failed === 0 ? "success" : committed > 0 ? "partial" : "error";
  const cap = settingsOf(c.env).MAX_ERRORS_REPORTED;
  return c.json(
    {
      status,
      processed: committed + failed,
      inserted: written.inserted,
      duplicates: written.duplicates,
      failed,
      errors: errors.slice(0, cap),
      ...(errors.length > cap ? { errors_truncated: true, errors_total: errors.length } : {}),
      entities,
      duration_ms: Date.now() - started,
    },
    status === "success" ? 200 : status === "partial" ? 207 : 400,
  );
}
