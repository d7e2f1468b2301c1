/**
 * The hostile-input corpus: malicious and malformed requests, each with the status it must get.
 * Batches carry one valid line next to the bad one, so the test can check nothing else was lost.
 */

export interface HostileCase {
  name: string;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Acceptable statuses; never a 5xx. */
  expect: number[];
  /** A customer_key the request also carries in a valid line, which must be in the database afterwards. */
  validKey?: string;
}

/** A valid line per entity, in wire order after the prefix. */
const VALID: Record<string, string[]> = {
  O: ["1", "100", "O", "123.45", "1996-01-02", "5-LOW", "Clerk#000000951", "0", "comment"],
  L: ["1", "1", "P1", "S1", "17", "21168.23", "0.04", "0.02", "N", "O", "1996-03-13", "1996-02-12", "1996-03-22", "comment"],
  C: ["C1", "Customer#1", "street", "15", "25-989-741-2988", "711.56", "BUILDING", "comment"],
  P: ["P1", "part", "Manufacturer#1", "Brand#13", "PROMO", "7", "JUMBO PKG", "901.00", "comment"],
};
/** Field positions (1-based) that are free text: anything but NUL is data there, stored as sent. */
const TEXT_FIELDS: Record<string, number[]> = { O: [1, 2, 3, 6, 7, 9], L: [1, 3, 4, 9, 10, 14], C: [1, 2, 3, 5, 7, 8], P: [1, 2, 3, 4, 5, 7, 9] };

const INJECTIONS = [
  "'; DROP TABLE orders; --",
  "1 OR 1=1",
  "$1::text); DELETE FROM customers; --",
  "\\x27 UNION SELECT password FROM pg_shadow --",
  "<script>alert(1)</script>",
];

let serial = 0;
const validLine = (ndjson = false) => {
  const key = `VALID${++serial}`;
  return { key, line: ndjson ? JSON.stringify({ entity: "C", customer_key: key, name: "Valid", account_balance: "1.00" }) : `C|${key}|Valid|x|1|5|1.00|A|b` };
};

function batchCase(name: string, bad: string | Uint8Array, expect: number[], contentType = "text/plain"): HostileCase {
  const valid = validLine(contentType === "application/x-ndjson");
  const enc = new TextEncoder();
  const body = typeof bad === "string" ? `${valid.line}\n${bad}\n` : new Uint8Array([...enc.encode(`${valid.line}\n`), ...bad, 0x0a]);
  return { name, path: "/ingest/batch", headers: { "Content-Type": contentType }, body, expect, validKey: valid.key };
}

function withField(prefix: string, position: number, value: string): string {
  const fields = [...VALID[prefix]];
  fields[position - 1] = value;
  return [prefix, ...fields].join("|");
}

export function hostileCases(): HostileCase[] {
  serial = 0;
  const cases: HostileCase[] = [];

  // SQL injection in every field of every entity: data in text fields (stored verbatim), a 400/207 elsewhere.
  for (const [prefix, fields] of Object.entries(VALID)) {
    fields.forEach((_, i) => {
      const position = i + 1;
      const text = TEXT_FIELDS[prefix].includes(position);
      const payload = INJECTIONS[(position + prefix.charCodeAt(0)) % INJECTIONS.length];
      cases.push(batchCase(`SQL injection in ${prefix} field ${position}`, withField(prefix, position, payload), text ? [200] : [207]));
    });
  }
  for (const payload of INJECTIONS) {
    cases.push({
      name: `SQL injection as a JSON key: ${payload}`,
      path: "/ingest/message",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ entity: "Customer", customer_key: "X", name: "n", account_balance: 1, [payload]: 1 }),
      expect: [400],
    });
    cases.push({
      name: `SQL injection in ?entity=: ${payload}`,
      path: `/ingest/batch?entity=${encodeURIComponent(payload)}`,
      headers: { "Content-Type": "application/json" },
      body: "[]",
      expect: [400],
    });
  }

  // NUL bytes in every text field.
  for (const [prefix, positions] of Object.entries(TEXT_FIELDS)) {
    for (const position of positions) cases.push(batchCase(`NUL byte in ${prefix} field ${position}`, withField(prefix, position, "a\u0000b"), [207]));
  }
  cases.push({
    name: "NUL byte in a JSON string",
    path: "/ingest/message",
    headers: { "Content-Type": "application/json" },
    body: '{"entity":"C","customer_key":"a\\u0000","name":"n","account_balance":1}',
    expect: [400],
  });

  // Invalid UTF-8.
  const invalid: [string, number[]][] = [
    ["lone continuation byte", [0x80]],
    ["overlong slash", [0xc0, 0xaf]],
    ["UTF-16 surrogate", [0xed, 0xa0, 0x80]],
    ["truncated 4-byte sequence", [0xf0, 0x9f, 0x98]],
    ["byte 0xFF", [0xff]],
    ["code point over U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
  ];
  for (const [what, bytes] of invalid) {
    cases.push(
      batchCase(
        `invalid UTF-8 (${what}) in a line`,
        new Uint8Array([...new TextEncoder().encode("C|U1|"), ...bytes, ...new TextEncoder().encode("|x|1|5|1.00|A|b")]),
        [207],
      ),
    );
    cases.push({
      name: `invalid UTF-8 (${what}) in a single message`,
      path: "/ingest/message",
      headers: { "Content-Type": "text/plain" },
      body: new Uint8Array([...new TextEncoder().encode("C|U1|"), ...bytes]),
      expect: [400],
    });
    cases.push({
      name: `invalid UTF-8 (${what}) in a JSON body`,
      path: "/ingest/batch",
      headers: { "Content-Type": "application/json" },
      body: new Uint8Array([0x5b, 0x22, ...bytes, 0x22, 0x5d]),
      expect: [400],
    });
  }

  // Overlong lines and too many fields.
  cases.push(batchCase("a 2 MiB line", `C|${"x".repeat(2 * 1024 * 1024)}`, [207]));
  cases.push(batchCase("100,000 fields", `C${"|x".repeat(100_000)}`, [207]));
  cases.push(batchCase("100,000 empty fields", `O${"|".repeat(100_000)}`, [207]));
  cases.push({
    name: "100,000 keys in a JSON record",
    path: "/ingest/message",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i]))),
    expect: [413],
  });
  cases.push({
    name: "100,000 keys in a JSON record of a batch",
    path: "/ingest/batch",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify([Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i]))]),
    expect: [400],
  });
  // Fine for the parser, too long for PostgreSQL's unique index (SQLSTATE 54000): the database's refusal must stay a rejected line.
  // A repetitive key compresses and fits the index; a random one does not.
  cases.push(batchCase("a 3,000-character repetitive natural key", withField("C", 1, "K".repeat(3000)), [200]));
  let seed = 42;
  const random = Array.from({ length: 3000 }, () => String.fromCharCode(33 + ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % 90)))
    .join("")
    .replace(/[|#]/g, "x");
  cases.push(batchCase("a 3,000-character random natural key", withField("C", 1, random), [207]));

  // Unicode separators that look like line or field separators.
  for (const [what, sep] of [
    ["LINE SEPARATOR", "\u2028"],
    ["PARAGRAPH SEPARATOR", "\u2029"],
    ["NEXT LINE", "\u0085"],
    ["FULLWIDTH VERTICAL LINE", "\uff5c"],
    ["BOX DRAWINGS LIGHT VERTICAL", "\u2502"],
    ["VERTICAL TAB", "\u000b"],
    ["FORM FEED", "\u000c"],
    ["lone CR", "\r"],
  ] as const) {
    cases.push(batchCase(`${what} as a field separator`, `C${sep}C9${sep}n${sep}x${sep}1${sep}5${sep}1.00`, [207]));
    cases.push(batchCase(`${what} inside a text field`, withField("C", 2, `na${sep}me`), [200]));
  }

  // Huge, negative and non-finite numbers.
  const numbers: [string, string, number][] = [
    ["integer over int4", "2147483648", 4],
    ["integer under int4", "-2147483649", 4],
    ["integer with 200 digits", "9".repeat(200), 4],
    ["negative zero integer", "-0", 4],
    ["integer with exponent", "1e3", 4],
    ["integer with spaces", " 15 ", 4],
    ["hex integer", "0x1F", 4],
    ["integer with underscores", "1_000", 4],
    ["decimal with 200 digits", "9".repeat(200) + ".5", 6],
    ["negative decimal", "-711.56", 6],
    ["decimal NaN", "NaN", 6],
    ["decimal Infinity", "Infinity", 6],
    ["decimal -Infinity", "-Infinity", 6],
    ["decimal with exponent", "1e400", 6],
    ["decimal with two points", "1.2.3", 6],
    ["decimal with comma", "1,5", 6],
    ["decimal sign only", "-", 6],
  ];
  for (const [what, value, position] of numbers) {
    const ok = what === "negative zero integer" || what === "negative decimal" || what === "decimal with 200 digits";
    cases.push(batchCase(`${what} (${value.slice(0, 20)})`, withField("C", position, value), ok ? [200] : [207]));
  }
  cases.push({
    name: "JSON NaN literal",
    path: "/ingest/message",
    headers: { "Content-Type": "application/json" },
    body: '{"entity":"C","customer_key":"a","name":"n","account_balance":NaN}',
    expect: [400],
  });
  cases.push({
    name: "JSON number 1e400",
    path: "/ingest/message",
    headers: { "Content-Type": "application/json" },
    body: '{"entity":"C","customer_key":"a","name":"n","account_balance":1,"nation_key":1e400}',
    expect: [400],
  });
  cases.push({
    name: "JSON integer field as a float",
    path: "/ingest/message",
    headers: { "Content-Type": "application/json" },
    body: '{"entity":"C","customer_key":"a","name":"n","account_balance":1,"nation_key":1.5}',
    expect: [400],
  });
  cases.push({
    name: "JSON integer field as boolean",
    path: "/ingest/message",
    headers: { "Content-Type": "application/json" },
    body: '{"entity":"C","customer_key":"a","name":"n","account_balance":1,"nation_key":true}',
    expect: [400],
  });

  // Impossible dates.
  for (const date of [
    "1996-02-30",
    "1996-13-01",
    "1996-00-10",
    "0000-01-01",
    "1900-02-29",
    "9999-99-99",
    "1996-1-1",
    "19960101",
    "1996-01-02T00:00:00",
    "1996-01-02 ",
    "yesterday",
    "1996-02-29x",
  ]) {
    cases.push(batchCase(`impossible date ${JSON.stringify(date)}`, withField("O", 5, date), [207]));
  }

  // Another entity's prefix, unknown prefixes, wrong shapes.
  cases.push(batchCase("an order line under the customer prefix", ["C", ...VALID.O].join("|"), [207]));
  cases.push(batchCase("a line item under the order prefix", ["O", ...VALID.L].join("|"), [207]));
  cases.push(batchCase("a product under the line item prefix", ["L", ...VALID.P].join("|"), [207]));
  for (const prefix of ["", "o", "OO", " O", "X", "Ö", "|", "🙂"]) cases.push(batchCase(`prefix ${JSON.stringify(prefix)}`, `${prefix}|1|2`, [207]));
  cases.push({
    name: "a JSON record saying one entity with another's fields",
    path: "/ingest/message",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ entity: "Product", customer_key: "C1", name: "n", account_balance: 1 }),
    expect: [400],
  });

  // Prototype pollution and other hostile JSON.
  for (const key of ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty"]) {
    cases.push({
      name: `JSON key ${key}`,
      path: "/ingest/message",
      headers: { "Content-Type": "application/json" },
      body: `{"entity":"C","customer_key":"a","name":"n","account_balance":1,"${key}":{"polluted":true}}`,
      expect: [400],
    });
    cases.push({
      name: `JSON key ${key} inside a line item`,
      path: "/ingest/message",
      headers: { "Content-Type": "application/json" },
      body: `{"order_key":"1","customer_key":"c","order_status":"O","total_price":1,"order_date":"1996-01-02","line_items":[{"${key}":{"polluted":true}}]}`,
      expect: [400],
    });
  }
  for (const depth of [1000, 100_000]) {
    cases.push({
      name: `JSON array nested ${depth} deep`,
      path: "/ingest/batch",
      headers: { "Content-Type": "application/json" },
      body: "[".repeat(depth) + "]".repeat(depth),
      expect: [400],
    });
    cases.push({
      name: `JSON object nested ${depth} deep`,
      path: "/ingest/message",
      headers: { "Content-Type": "application/json" },
      body: '{"a":'.repeat(depth) + "1" + "}".repeat(depth),
      expect: [400],
    });
    cases.push(batchCase(`NDJSON line nested ${depth} deep`, "[".repeat(depth) + "]".repeat(depth), [207], "application/x-ndjson"));
  }
  for (const [what, body] of [
    ["null", "null"],
    ["a string", '"C|1"'],
    ["a number", "42"],
    ["true", "true"],
    ["an empty object", "{}"],
    ["an array of nulls", "[null,null]"],
    ["line_items not a list", '{"order_key":"1","customer_key":"c","order_status":"O","total_price":1,"order_date":"1996-01-02","line_items":"x"}'],
    ["line_items of strings", '{"order_key":"1","customer_key":"c","order_status":"O","total_price":1,"order_date":"1996-01-02","line_items":["x"]}'],
    ["a duplicate key", '{"entity":"C","customer_key":"a","customer_key":7,"name":"n"}'],
  ] as const) {
    cases.push({ name: `JSON body that is ${what}`, path: "/ingest/message", headers: { "Content-Type": "application/json" }, body, expect: [400] });
  }

  // Wrong or odd Content-Type and Content-Encoding.
  for (const type of [
    "application/xml",
    "multipart/form-data; boundary=x",
    "text/html",
    "image/png",
    "application/octet-stream",
    "text/csv",
    "text/plain; charset=latin1",
    "application/json; charset=utf-16",
    "x/y",
    "text/plainx",
    "😀/😀",
  ]) {
    cases.push({
      name: `Content-Type ${JSON.stringify(type)}`,
      path: "/ingest/batch",
      headers: { "Content-Type": type },
      body: "C|C1|n|x|1|5|1.00|A|b",
      expect: [415],
    });
  }
  for (const encoding of ["br", "compress", "gzip, gzip", "zstd", "identity, gzip"]) {
    cases.push({
      name: `Content-Encoding ${encoding}`,
      path: "/ingest/batch",
      headers: { "Content-Type": "text/plain", "Content-Encoding": encoding },
      body: "C|C1|n|x|1|5|1.00|A|b",
      expect: [415],
    });
  }
  cases.push({
    name: "gzip header on a plain body",
    path: "/ingest/batch",
    headers: { "Content-Type": "text/plain", "Content-Encoding": "gzip" },
    body: "C|C1|n|x|1|5|1.00|A|b",
    expect: [400],
  });
  cases.push({
    name: "deflate header on a plain body",
    path: "/ingest/message",
    headers: { "Content-Type": "text/plain", "Content-Encoding": "deflate" },
    body: "C|C1|n|x|1|5|1.00|A|b",
    expect: [400],
  });
  cases.push({
    name: "truncated gzip (header only)",
    path: "/ingest/batch",
    headers: { "Content-Type": "text/plain", "Content-Encoding": "gzip" },
    body: new Uint8Array([0x1f, 0x8b, 0x08, 0x00]),
    expect: [400],
  });

  // Truncated bodies.
  for (const body of ['{"entity":"C",', '[{"entity":"C","customer_key":"a"', '{"entity', "[", '"unterminated']) {
    cases.push({ name: `truncated JSON ${JSON.stringify(body)}`, path: "/ingest/batch", headers: { "Content-Type": "application/json" }, body, expect: [400] });
  }
  cases.push(batchCase("truncated last line without newline", "O|1|100|O|12", [207]));
  cases.push({ name: "empty body", path: "/ingest/batch", headers: { "Content-Type": "text/plain" }, body: "", expect: [400] });
  cases.push({ name: "only blank lines", path: "/ingest/message", headers: { "Content-Type": "text/plain" }, body: "\n\n\r\n", expect: [400] });

  // Headers, query and methods out of range.
  cases.push({
    name: "a 16 KiB Authorization header",
    path: "/ingest/batch",
    headers: { "Content-Type": "text/plain", Authorization: `Bearer ${"a".repeat(16 * 1024)}` },
    body: "C|C1|n|x|1|5|1.00|A|b",
    expect: [401],
  });
  cases.push({
    name: "Authorization without Bearer",
    path: "/ingest/batch",
    headers: { "Content-Type": "text/plain", Authorization: "Token abc" },
    body: "C|C1|n|x|1|5|1.00|A|b",
    expect: [401],
  });
  cases.push({
    name: "a 4 KiB X-Request-Id",
    path: "/ingest/message",
    headers: { "Content-Type": "text/plain", "X-Request-Id": "r".repeat(4096) },
    body: "X|1",
    expect: [400],
  });
  cases.push({
    name: "Content-Length far over the limit",
    path: "/ingest/message",
    headers: { "Content-Type": "text/plain", "Content-Length": "999999999999" },
    body: "C|C1",
    expect: [400, 413],
  });
  for (const query of [
    "?entity=",
    "?entity=%E0%A4%A",
    "?entity[]=Order",
    "?progress=everything",
    "?entity=Order&entity=Customer",
    `?entity=${"O".repeat(10_000)}`,
  ]) {
    cases.push({
      name: `query ${query.slice(0, 40)}`,
      path: `/ingest/stream${query}`,
      headers: { "Content-Type": "application/json" },
      body: "{}",
      expect: [400],
    });
  }
  for (const [method, path] of [
    ["GET", "/ingest/batch"],
    ["PUT", "/ingest/message"],
    ["DELETE", "/stats"],
    ["PATCH", "/ingest/stream"],
    ["POST", "/health"],
    ["GET", "/ingest/../../etc/passwd"],
    ["GET", "/%00"],
    ["POST", "/ingest/batch/extra"],
  ]) {
    cases.push({ name: `${method} ${path}`, method, path, body: method === "GET" || method === "DELETE" ? undefined : "x", expect: [404] });
  }
  return cases;
}
