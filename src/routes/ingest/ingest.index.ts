/** The ingest feature's routes, registered with their guards: each handler is typed by its route. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../app-env.ts";
import { guards } from "../guards.ts";
import { getReceipt, listParked, postBatch, postMessage, postStream, redrive } from "./ingest.handlers.ts";
import { batchRoute, messageRoute, parkedRoute, receiptRoute, redriveRoute, streamRoute } from "./ingest.routes.ts";

export function ingestRoutes(app: OpenAPIHono<AppEnv>) {
  // The route a client calls once a record goes without the validator middleware (its handler reads
  // its query, and its answer is typed by its schema at compile time); documented from the same definition.
  app.openAPIRegistry.registerPath(messageRoute);
  app.on("POST", [messageRoute.path], ...guards.ingest, postMessage);
  return app
    .openapi({ ...batchRoute, middleware: guards.ingest }, postBatch)
    .openapi({ ...streamRoute, middleware: guards.ingest }, postStream)
    .openapi({ ...receiptRoute, middleware: guards.write }, getReceipt)
    .openapi({ ...parkedRoute, middleware: guards.admin }, listParked)
    .openapi({ ...redriveRoute, middleware: guards.admin }, redrive);
}
