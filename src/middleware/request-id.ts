/**
 * requestId(): every request gets an id made here, answered as X-Request-Id and named in its log
 * line and error answers. A client's own X-Request-Id is only logged (client_request_id): ids the
 * client chooses could collide with, or impersonate, another request's.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";

export function requestId(): MiddlewareHandler<AppEnv> {
  return async function requestId(c, next) {
    const id = crypto.randomUUID();
    c.set("requestId", id);
    c.header("X-Request-Id", id);
    await next();
  };
}

/** The client's X-Request-Id, cut to a length a log line can carry. */
export const clientRequestId = (header: string | undefined) => header?.slice(0, 200);
