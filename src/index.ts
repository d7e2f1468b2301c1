/** Worker entry point: the Hono app, and the Stats Durable Object class the runtime instantiates. */
import { app } from "./app.ts";

export { StatsObject } from "./stats/stats-object.ts";
export default app;
