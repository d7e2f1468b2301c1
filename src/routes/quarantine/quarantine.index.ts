/** The quarantine feature's routes, registered with their guards: each handler is typed by its route. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../app-env.ts";
import { guards } from "../guards.ts";
import { deleteRejections, listRejections, replayRejections, showRejection } from "./quarantine.handlers.ts";
import { deleteRejectionsRoute, rejectionRoute, rejectionsRoute, replayRoute } from "./quarantine.routes.ts";

export function quarantineRoutes(app: OpenAPIHono<AppEnv>) {
  return app
    .openapi({ ...rejectionsRoute, middleware: guards.quarantine }, listRejections)
    .openapi({ ...deleteRejectionsRoute, middleware: guards.quarantine }, deleteRejections)
    .openapi({ ...replayRoute, middleware: guards.replay }, replayRejections)
    .openapi({ ...rejectionRoute, middleware: guards.quarantine }, showRejection);
}
