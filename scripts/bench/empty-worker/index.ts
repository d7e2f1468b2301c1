/**
 * The floor under /ingest/message: a Worker that reads the body and answers a fixed JSON, run by
 * the same `wrangler dev` on the same machine. Whatever latency it shows at 50 clients is the
 * local stack's (proxy, workerd, the client), not ours.
 */
export default {
  async fetch(request: Request): Promise<Response> {
    await request.arrayBuffer();
    return Response.json({ status: "success" });
  },
};
