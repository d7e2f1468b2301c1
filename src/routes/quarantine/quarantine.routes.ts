/** The quarantine routes' contract: list, show, replay and delete rejected lines. */
import { createRoute, z } from "@hono/zod-openapi";
import { failure } from "../answers.ts";
import { DeleteResult, Rejection, RejectionFilters, RejectionListQuery, RejectionPage, ReplayQuery, ReplayResult } from "../schemas.ts";

const refusals = {
  400: failure("A query parameter outside its documented values"),
  401: failure("Missing or invalid API key"),
  403: failure("The key has neither a write scope nor admin"),
  429: failure("Rate limit exceeded; retry after Retry-After seconds", "Retry-After"),
};
const who = "A key sees only the rejections its own requests caused; a key with the admin scope sees every key's.";

export const rejectionsRoute = createRoute({
  method: "get",
  path: "/ingest/rejections",
  operationId: "listRejections",
  tags: ["quarantine"],
  security: [{ bearer: [] }],
  summary: "List rejected lines (the quarantine)",
  description: `Oldest first, a page at a time (next_cursor). With ?format=ndjson or Accept: application/x-ndjson, every matching rejection is streamed, one JSON object per line. ${who}`,
  request: { query: RejectionListQuery },
  responses: {
    200: {
      description: "A page of rejections, or the NDJSON export",
      content: { "application/json": { schema: RejectionPage }, "application/x-ndjson": { schema: { type: "string" } } },
    },
    ...refusals,
  },
});

export const rejectionRoute = createRoute({
  method: "get",
  path: "/ingest/rejections/{id}",
  operationId: "getRejection",
  tags: ["quarantine"],
  security: [{ bearer: [] }],
  summary: "One rejected line",
  description: who,
  request: { params: z.object({ id: z.string().describe("The rejection's id") }) },
  responses: {
    200: { description: "The rejection", content: { "application/json": { schema: Rejection } } },
    404: failure("No such rejection, or not one this key may see"),
    ...refusals,
  },
});

export const replayRoute = createRoute({
  method: "post",
  path: "/ingest/rejections/replay",
  operationId: "replayRejections",
  tags: ["quarantine"],
  security: [{ bearer: [] }],
  summary: "Parse rejected lines again with the current entities and write those that now pass",
  description: `Takes the filters of the list. Lines not replayed yet are parsed again with the current registry and the calling key's write scopes; those that pass are written (natural keys: a row already there is a duplicate) and marked replayed. ?dry_run=true writes nothing. ${who}`,
  request: { query: ReplayQuery },
  responses: {
    200: { description: "What was (or would be) replayed, and why the rest is still rejected", content: { "application/json": { schema: ReplayResult } } },
    503: failure("Database unavailable, or its schema is behind this Worker", "Retry-After"),
    ...refusals,
  },
});

export const deleteRejectionsRoute = createRoute({
  method: "delete",
  path: "/ingest/rejections",
  operationId: "deleteRejections",
  tags: ["quarantine"],
  security: [{ bearer: [] }],
  summary: "Delete rejected lines",
  description: `Takes the filters of the list, at least one of them. ${who}`,
  request: { query: RejectionFilters },
  responses: {
    200: { description: "How many were deleted", content: { "application/json": { schema: DeleteResult } } },
    ...refusals,
  },
});
