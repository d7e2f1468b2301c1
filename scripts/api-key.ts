/**
 * npm run key -- create --id loader --scopes write:Order,write:OrderLineItem,read
 *   prints a new random key (shown once: give it to the client) and the API_KEYS entry to deploy.
 * npm run key -- hash <key>
 *   prints the SHA-256 a stored entry holds for that key.
 */
import { createHash, randomBytes } from "node:crypto";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { id: { type: "string" }, scopes: { type: "string" } } });
const sha256 = (key: string) => createHash("sha256").update(key).digest("hex");

if (positionals[0] === "hash" && positionals[1]) {
  console.log(sha256(positionals[1]));
} else if (positionals[0] === "create" && values.id && values.scopes) {
  const key = `nn_${randomBytes(32).toString("base64url")}`;
  const scopes = values.scopes.split(",").map((s) => s.trim());
  console.log(`key (give it to the client; it is not stored anywhere): ${key}`);
  console.log(`API_KEYS entry: ${JSON.stringify({ id: values.id, sha256: sha256(key), scopes })}`);
  console.log("Add the entry to the JSON list and deploy it: npx wrangler secret put API_KEYS");
} else {
  console.error("usage: npm run key -- create --id ID --scopes write:*,read | npm run key -- hash KEY");
  process.exit(64);
}
