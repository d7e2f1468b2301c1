/** The quarantine's routes: HTTP over src/ingest/quarantine.ts. */
import type { RouteConfigToTypedResponse, RouteHandler, z } from "@hono/zod-openapi";
import type { AppEnv } from "../../app-env.ts";
import { ingestDeps, rejectionStore } from "../../compose.ts";
import { IngestError } from "../../errors.ts";
import { deleteVisible, listVisible, present, replay } from "../../ingest/rejections.ts";
import { entityByName } from "../../registry.ts";
import type { RejectionFilter } from "../../writer/rejections.ts";
import { documented } from "../documented.ts";
import { DeleteResult, Rejection, type RejectionFilters, ReplayResult } from "../schemas.ts";
import type { deleteRejectionsRoute, rejectionRoute, rejectionsRoute, replayRoute } from "./quarantine.routes.ts";

/** The filters asked for (the service narrows them to what the caller may see). */
function filterOf(q: z.infer<typeof RejectionFilters>): RejectionFilter {
  const { request_id, key, since, until } = q;
  const entity = q.entity === undefined ? undefined : (entityByName(q.entity)?.name ?? q.entity);
  return { request_id, entity, key, since, until };
}

const PAGE = 100;
const EXPORT_PAGE = 1000;

export const listRejections: RouteHandler<typeof rejectionsRoute, AppEnv> = async (c) => {
  const q = c.req.valid("query");
  const store = rejectionStore(c.get("settings"));
  const principal = c.get("principal");
  const filter = filterOf(q);
  const newest = q.order === "newest";
  const from = (cursor: string | number | undefined) => (cursor === undefined ? {} : newest ? { before: Number(cursor) } : { after: Number(cursor) });
  const ndjson = q.format === "ndjson" || (q.format === undefined && /application\/x-ndjson/i.test(c.req.header("accept") ?? ""));
  if (ndjson) {
    // One page at a time, read when the client is ready for it: millions of rows never sit in memory.
    let cursor: string | number | undefined = q.cursor;
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { rows, more } = await listVisible(store, principal, { ...filter, ...from(cursor) }, EXPORT_PAGE, newest);
        if (rows.length > 0) controller.enqueue(encoder.encode(rows.map((r) => JSON.stringify(present(r))).join("\n") + "\n"));
        if (!more) controller.close();
        else cursor = rows[rows.length - 1].id;
      },
    });
    const exported = c.body(body, 200, { "Content-Type": "application/x-ndjson; charset=utf-8" });
    // Cast 2 of 2: the NDJSON export is a stream of Rejection lines, documented as a string; the compiler types only the JSON page.
    return exported as unknown as RouteConfigToTypedResponse<typeof rejectionsRoute>;
  }
  const limit = q.limit ?? PAGE;
  const { rows, more } = await listVisible(store, principal, { ...filter, ...from(q.cursor) }, limit, newest);
  return c.json({ rejections: rows.map((r) => documented(Rejection, present(r))), next_cursor: more ? String(rows[rows.length - 1].id) : null }, 200);
};

export const showRejection: RouteHandler<typeof rejectionRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const missing = new IngestError("not_found", `no rejection ${JSON.stringify(id.slice(0, 40))}`);
  if (!/^\d{1,18}$/.test(id)) throw missing;
  const {
    rows: [found],
  } = await listVisible(rejectionStore(c.get("settings")), c.get("principal"), { after: Number(id) - 1 }, 1);
  // Another key's rejection is answered like a missing one: its existence is not this key's to know.
  if (!found || found.id !== Number(id)) throw missing;
  return c.json(documented(Rejection, present(found)), 200);
};

export const replayRejections: RouteHandler<typeof replayRoute, AppEnv> = async (c) => {
  const q = c.req.valid("query");
  const filter = { ...filterOf(q), after: q.cursor === undefined ? undefined : Number(q.cursor) };
  const deps = ingestDeps(c.env, c.get("settings"));
  const options = { dryRun: q.dry_run === "true", limit: q.limit ?? 1000, maxErrors: deps.settings.MAX_ERRORS_REPORTED };
  const replayed = await replay(deps.quarantine, deps.openWriter, c.get("principal"), filter, options);
  return c.json(documented(ReplayResult, replayed), 200);
};

const DELETE_MAX = 100_000;

export const deleteRejections: RouteHandler<typeof deleteRejectionsRoute, AppEnv> = async (c) => {
  const q = c.req.valid("query");
  if (Object.values(q).every((v) => v === undefined)) {
    throw new IngestError(
      "bad_request",
      "give at least one filter (request_id, entity, key, since, until): DELETE /ingest/rejections does not delete everything at once",
    );
  }
  return c.json(documented(DeleteResult, await deleteVisible(rejectionStore(c.get("settings")), c.get("principal"), filterOf(q), DELETE_MAX)), 200);
};
