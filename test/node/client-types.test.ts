/**
 * nomnom-edge/client's types, by the TypeScript compiler itself: a record is typed by its entity
 * (src/generated/client-entities.d.ts, generated from the registry), so a wrong field, a wrong type or a wrong
 * entity name does not compile, and a right record does. The client's type file is compiled beside the test
 * project's generated types (test/project), so this holds whatever the user's entities are.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { root } from "../support/dev-stack.ts";

/** Compiles `code` as a user's module importing the client's type file; the compiler's messages. */
function compile(code: string): string[] {
  mkdirSync(join(root, "test/.output"), { recursive: true });
  const dir = mkdtempSync(join(root, "test/.output/client-types-"));
  // The layout of the package (client/, src/generated/), with the test project's entities.
  mkdirSync(join(dir, "client"));
  mkdirSync(join(dir, "src/generated"), { recursive: true });
  copyFileSync(join(root, "client/index.d.ts"), join(dir, "client/index.d.ts"));
  copyFileSync(join(root, "test/project/src/generated/client-entities.d.ts"), join(dir, "src/generated/client-entities.d.ts"));
  const file = join(dir, "use.ts");
  writeFileSync(file, `import { NomnomClient } from "./client/index.js";\nconst client = new NomnomClient({ url: "http://localhost:8080" });\n${code}\n`);
  const tsc = join(root, "node_modules/typescript/bin/tsc");
  const flags = [
    "--ignoreConfig",
    "--noEmit",
    "--strict",
    "--target",
    "es2024",
    "--module",
    "esnext",
    "--moduleResolution",
    "bundler",
    "--types",
    "node",
    "--skipLibCheck",
  ];
  const run = spawnSync(process.execPath, [tsc, ...flags, file], { cwd: root, encoding: "utf8" });
  return run.stdout.split("\n").filter((line) => line.includes("error TS"));
}

const order = `order_key: 1, customer_key: "C1", order_status: "O", total_price: "123.45", order_date: "1996-01-02"`;

describe("client.send's types", () => {
  it("compile a right record, with its optional fields and nested line items", () => {
    const items = `line_items: [{ line_number: 1, part_key: 7, supplier_key: 3, quantity: 2, extended_price: 10.5, discount: "0.05", tax: 0, return_flag: "N", line_status: "O", ship_date: "1996-02-01", commit_date: "1996-02-03" }]`;
    expect(compile(`client.send("Order", { ${order}, comment: null, ${items} });`)).toEqual([]);
  });

  it("refuse a field the entity does not have", () => {
    const errors = compile(`client.send("Order", { ${order}, total_pryce: 1 });`);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/'total_pryce' does not exist in type 'Order'/);
  });

  it("refuse a field of the wrong type, and a missing required field", () => {
    expect(compile(`client.send("Order", { ${order.replace('order_date: "1996-01-02"', "order_date: 19960102")} });`)[0]).toMatch(
      /Type 'number' is not assignable to type 'string'/,
    );
    expect(compile(`client.send("Order", { order_key: 1 });`)[0]).toMatch(/missing the following properties from type 'Order': customer_key/);
  });

  it("refuse an entity the registry does not have", () => {
    expect(compile(`client.send("Invoice", { id: 1 });`)[0]).toMatch(/Argument of type '"Invoice"' is not assignable/);
  });
});
