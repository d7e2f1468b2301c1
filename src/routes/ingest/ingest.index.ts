/** The ingest feature's routes, registered with their guards: each handler is typed by its route. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../app-env.ts";
import { guards } from "../guards.ts";
import { getReceipt, listParked, postBatch, postMessage, postStream, redrive } from "./ingest.handlers.ts";
import { batchRoute, messageRoute, parkedRoute, receiptRoute, redriveRoute, streamRoute } from "./ingest.routes.ts";

export function ingestRoutes(app: OpenAPIHono<AppEnv>) {
  return app
    .openapi({ ...messageRoute, middleware: guards.ingest }, postMessage)
    .openapi({ ...batchRoute, middleware: guards.ingest }, postBatch)
    .openapi({ ...streamRoute, middleware: guards.ingest }, postStream)
    .openapi({ ...receiptRoute, middleware: guards.write }, getReceipt)
    .openapi({ ...parkedRoute, middleware: guards.admin }, listParked)
    .openapi({ ...redriveRoute, middleware: guards.admin }, redrive);
}
