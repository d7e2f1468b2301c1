/**
 * The generated zod schemas (the OpenAPI document's record bodies) against the generated record
 * parsers (what runs): for arbitrary JSON records, valid and near-valid, per entity, a schema
 * accepts a record exactly when the parser does. For the service's own entities the parser is
 * the whole path of a JSON body (parseBody); the fixtures cover every type and the v1 constraints.
 *
 * Both sides see JSON values. A number the body spells otherwise than JavaScript writes it (1.0,
 * 1e2, -0) reaches the parser as raw text (parseJsonExact keeps it exact): integer and text fields
 * refuse it, bigint fields with a point or an exponent, decimal fields with an exponent. JSON
 * Schema cannot tell 1.0 from 1, so that difference belongs to the reader, outside this agreement.
 */

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { loadEntities } from "../../scripts/compiler/load-entities.ts";
import type { EntityModel, FieldModel } from "../../scripts/compiler/model.ts";
import type { EntityDef } from "../../src/entity/entity.ts";
import { isRecord, type JsonRecord } from "../../src/entity/field-checks.ts";
import { parseBody } from "../../src/ingest/parse-messages.ts";
import { ENTITIES } from "../../src/registry.ts";
import * as serviceSchemas from "../project/src/generated/schemas.ts";
import { TEST_ENTITIES } from "../support/test-project.ts";

const root = resolve(import.meta.dirname, "../..");

interface EntitySet {
  models: EntityModel[];
  entities: readonly EntityDef[];
  schemas: Record<string, z.ZodType>;
}

/** Compiles an entity folder under test/.output, beside a link to src/ingest so its imports resolve. */
async function compiled(dir: string): Promise<EntitySet> {
  mkdirSync(join(root, "test/.output"), { recursive: true });
  const out = mkdtempSync(join(root, "test/.output/schemas-"));
  execFileSync(process.execPath, ["scripts/build-entities.ts", "--entities", dir, "--out", out], { cwd: root });
  symlinkSync(join(root, "src/ingest"), join(out, "src/ingest"));
  const registry = (await import(join(out, "src/generated/registry.ts"))) as { ENTITIES: EntityDef[] };
  const schemas = (await import(join(out, "src/generated/schemas.ts"))) as { RECORD_SCHEMAS: Record<string, z.ZodType> };
  return { models: loadEntities(dir), entities: registry.ENTITIES, schemas: schemas.RECORD_SCHEMAS };
}

/**
 * What parseRecord (src/ingest/parse-messages.ts) accepts for a request forced to `entity`, over
 * any generated registry: the "entity" key, the entity's parser, then each child row of its lists.
 */
function parserAccepts(set: EntitySet, entity: EntityDef, record: JsonRecord): boolean {
  const byName = (name: string) => set.entities.find((e) => e.name === name || e.prefix === name);
  if (record.entity !== undefined && (typeof record.entity !== "string" || byName(record.entity) !== entity)) return false;
  const row = entity.parseRecord(record);
  if (!Array.isArray(row)) return false;
  return entity.children.every(({ field, entity: child, derive }) => {
    const items = record[field];
    if (items === undefined || items === null) return true;
    return Array.isArray(items) && items.every((item) => isRecord(item) && Array.isArray(byName(child)!.parseRecord(derive(row, item))));
  });
}

// ── Values: valid ones, the edges of each rule, and anything at all ──

const anything = fc.jsonValue({ maxDepth: 2 });
const date = fc
  .date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T00:00:00Z"), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10));
const decimalText = fc.tuple(fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }), fc.nat({ max: 999 })).map(([i, f]) => `${i}.${f}`);
const uuid = fc.uuid();

const EDGES: Record<FieldModel["type"], unknown[]> = {
  string: ["", " ", "a\u0000b", 0, -0, 12, -7, 2 ** 53, 1.5, true, "12", "é"],
  integer: [
    2147483647,
    -2147483648,
    2147483648,
    -2147483649,
    "2147483647",
    "2147483648",
    "-2147483649",
    "+5",
    "0007",
    "99999999999",
    "1.0",
    " 1",
    "",
    1.5,
    true,
  ],
  bigint: [
    2 ** 53 - 1,
    2 ** 53,
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "+922337203685477580",
    "0009223372036854775807",
    "1e3",
    "",
    1.5,
  ],
  float: [0, -1.5e-300, 1e308, "1e5", "-.5e-3", "5.", ".", "1e400", "Infinity", "NaN", "0x10", "", true],
  decimal: ["123.45", "-0.5", ".5", "5.", "+.5", ".", "1e5", "", 1e21, 1e-7, 123456.78, "123456.78", "1234567.8", "0000123456.78", "1.234", "99999999.9"],
  boolean: [true, false, "true", "TRUE", "tRuE", "T", "f", "FALSE", "1", "0", "2", "yes", "", 1, 0],
  date: [
    "1996-02-29",
    "1997-02-29",
    "2000-02-29",
    "1900-02-29",
    "0000-01-01",
    "0000-02-29",
    "0001-01-01",
    "9999-12-31",
    "2024-13-01",
    "2024-1-01",
    "2024-01-01T00:00:00Z",
    "",
    19960229,
  ],
  timestamp: [
    "2026-11-27T10:00:00Z",
    "2026-11-27 10:00",
    "2026-11-27T10:00:00.123456+05:30",
    "2026-11-27T10:00:00+0530",
    "2026-11-27T10:00+05",
    "2026-11-27T10:00:00.1234567Z",
    "2026-02-30T10:00:00Z",
    "2026-11-27T25:00:00Z",
    "2026-11-27T10:60:00Z",
    "0000-01-01T00:00Z",
    "2026-11-27",
    "",
    0,
  ],
  uuid: [
    "1F0C3E1E-8A5B-4C3D-9E2F-0A1B2C3D4E5F",
    "00000000-0000-0000-0000-000000000000",
    "1f0c3e1e8a5b4c3d9e2f0a1b2c3d4e5f",
    "1f0c3e1e-8a5b-4c3d-9e2f-0a1b2c3d4e5g",
    "",
  ],
  json: [null, "", 0, "x", [], {}, [1, "a"], { a: null }, false],
  string_list: [[], ["a", ""], ["a", 1], [null], "", "a", [["a"]]],
};

/** A value the parser accepts for the field (nullable ones: sometimes null). */
function valid(f: FieldModel): fc.Arbitrary<unknown> {
  const c = f.constraints;
  const [lowest, highest] = [c.minimum ?? -Infinity, c.maximum ?? Infinity];
  const double = fc.double({ min: Math.max(lowest, -Number.MAX_VALUE), max: Math.min(highest, Number.MAX_VALUE), noNaN: true });
  const text = c.enum
    ? fc.constantFrom(...c.enum)
    : c.pattern
      ? fc.stringMatching(new RegExp(c.pattern, "u"))
      : fc.oneof(fc.string({ minLength: 1, maxLength: 20, unit: "grapheme" }), fc.string({ unit: "binary", maxLength: 20 }), fc.maxSafeInteger());
  const integer = fc.integer({ min: Math.max(-2147483648, Math.ceil(lowest)), max: Math.min(2147483647, Math.floor(highest)) });
  const bigint = fc.bigInt({
    min: lowest === -Infinity ? -(2n ** 63n) : BigInt(Math.ceil(lowest)),
    max: highest === Infinity ? 2n ** 63n - 1n : BigInt(Math.floor(highest)),
  });
  const base: fc.Arbitrary<unknown> =
    f.type === "string"
      ? text.filter(
          (s) => typeof s !== "string" || (!s.includes("\u0000") && s.length >= Math.max(1, c.minLength ?? 0) && s.length <= (c.maxLength ?? Infinity)),
        )
      : f.type === "integer"
        ? fc.oneof(integer, integer.map(String))
        : f.type === "bigint"
          ? fc.oneof(bigint.filter((n) => Number.isSafeInteger(Number(n))).map(Number), bigint.map(String))
          : f.type === "float"
            ? fc.oneof(double, double.map(String))
            : f.type === "decimal"
              ? c.precision
                ? fc.tuple(fc.nat({ max: 10 ** (c.precision - (c.scale ?? 0)) - 1 }), fc.nat({ max: 9 })).map(([i, d]) => (c.scale ? `${i}.${d}` : `${i}`))
                : fc.oneof(decimalText, double)
              : f.type === "boolean"
                ? fc.oneof(fc.boolean(), fc.constantFrom("true", "false", "t", "f", "1", "0"))
                : f.type === "date"
                  ? date
                  : f.type === "timestamp"
                    ? fc.date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T00:00:00Z"), noInvalidDate: true }).map((d) => d.toISOString())
                    : f.type === "uuid"
                      ? uuid
                      : f.type === "json"
                        ? anything.filter((v) => v !== null && v !== "")
                        : fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 });
  return f.nullable ? fc.option(base, { nil: null, freq: 5 }) : base;
}

/** The values around a field's declared bounds and lengths, as numbers and as text. */
function boundaries(f: FieldModel): unknown[] {
  const c = f.constraints;
  const around = (n: number | undefined) => (n === undefined ? [] : [n - 1, n - 0.5, n, n + 0.5, n + 1]);
  const numbers = [...around(c.minimum), ...around(c.maximum)];
  const lengths = [c.minLength, c.maxLength].flatMap((n) => (n === undefined ? [] : [n - 1, n, n + 1])).map((n) => "A".repeat(Math.max(0, n)));
  return [...numbers, ...numbers.map(String), ...lengths, ...(c.enum ?? []).map((v) => v.toLowerCase())];
}

/** Edges of the field's rules, valid or not, and any JSON at all. */
const nearValid = (f: FieldModel): fc.Arbitrary<unknown> => fc.oneof(fc.constantFrom(...EDGES[f.type], ...boundaries(f), null), anything);

/** A valid object of `fields` (key → field), then up to three changes: a value replaced by an edge, a key dropped, an unknown key added. */
function mutated(fields: [key: string, field: FieldModel][], extra: fc.Arbitrary<Record<string, unknown>> = fc.constant({})): fc.Arbitrary<JsonRecord> {
  const start = fc.tuple(fc.record(Object.fromEntries(fields.map(([key, f]) => [key, valid(f)]))), extra).map(([a, b]) => ({ ...a, ...b }));
  if (fields.length === 0) return start;
  const change = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.nat({ max: fields.length - 1 }).chain((i) => nearValid(fields[i][1]).map((v) => (r: JsonRecord) => ({ ...r, [fields[i][0]]: v }))),
    },
    {
      weight: 2,
      arbitrary: fc.nat({ max: fields.length - 1 }).map((i) => (r: JsonRecord) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== fields[i][0]))),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom("unknown", "Entity", "__proto__", "constructor")
        .map((k) => (r: JsonRecord) => ({ ...r, ...JSON.parse(`{${JSON.stringify(k)}: 1}`) })),
    },
  );
  return fc.tuple(start, fc.array(change, { maxLength: 3 })).map(([r, changes]) => changes.reduce((acc, f) => f(acc), r));
}

/** Records for one entity: its fields, its "entity" key in every spelling, its lists' items. */
function records(set: EntitySet, model: EntityModel): fc.Arbitrary<JsonRecord> {
  const others = set.models.filter((m) => m !== model).map((m) => m.name);
  const entityKey = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom<unknown>(undefined, model.name, model.prefix) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(model.name.toLowerCase(), null, 1, ...others) },
  );
  const lists = model.listFields.map((l) => {
    const child = set.models.find((c) => c.repeatedFor?.entity === model.name && c.repeatedFor.field === l.key);
    const itemFields = (child?.fields ?? []).flatMap((f): [string, FieldModel][] => (f.derivation?.from === "item" ? [[f.derivation.key, f]] : []));
    const item = mutated(itemFields, fc.dictionary(fc.constantFrom("note", "x"), anything, { maxKeys: 1 }));
    const list = fc.oneof(
      { weight: 6, arbitrary: fc.array(item, { maxLength: 3 }) },
      { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, null, "x", {}, [1], [null], [[]]) },
    );
    return [l.key, list] as const;
  });
  // A renamed field's value may come under its former name (an alias), or under both names.
  const renamed = model.fields.filter((f) => f.renamedFrom !== undefined);
  const aliasing = fc.tuple(...renamed.map(() => fc.constantFrom("keep", "keep", "move", "both")));
  return fc
    .tuple(mutated(model.fields.map((f) => [f.key, f])), entityKey, fc.tuple(...lists.map(([, a]) => a)), aliasing)
    .map(([fields, entity, values, how]) => {
      const r: JsonRecord = { ...fields };
      renamed.forEach((f, i) => {
        if (how[i] === "keep" || !(f.key in r)) return;
        r[f.renamedFrom!] = r[f.key];
        if (how[i] === "move") delete r[f.key];
      });
      const record: JsonRecord = entity === undefined ? { ...r } : { entity, ...r };
      lists.forEach(([key], i) => {
        if (values[i] !== undefined) record[key] = values[i];
      });
      return record;
    });
}

function agreeFor(name: string, set: () => EntitySet, runs: number, production?: (entity: EntityDef, record: JsonRecord) => boolean): void {
  describe(`the zod schema accepts a record exactly when the parser does: ${name}`, () => {
    it("for every entity, over valid and near-valid records", () => {
      const { models, entities, schemas } = set();
      expect(models.map((m) => m.name)).toEqual(entities.map((e) => e.name));
      for (const model of models) {
        const entity = entities.find((e) => e.name === model.name)!;
        let accepted = 0;
        fc.assert(
          fc.property(records(set(), model), (record) => {
            const parser = parserAccepts(set(), entity, record);
            if (production) expect(production(entity, record), "parserAccepts mirrors parseBody").toBe(parser);
            expect(schemas[model.name].safeParse(record).success).toBe(parser);
            if (parser) accepted++;
          }),
          { numRuns: runs },
        );
        // Both answers were really exercised, for each entity.
        expect(accepted, `${model.name}: records accepted`).toBeGreaterThan(runs / 20);
        expect(accepted, `${model.name}: records rejected`).toBeLessThan(runs * 0.9);
      }
    });
  });
}

// The registry under test is the test entity set's (vitest.config.ts), so are the models.
const service: EntitySet = { models: loadEntities(TEST_ENTITIES), entities: ENTITIES, schemas: serviceSchemas.RECORD_SCHEMAS };
// The service's entities: the parser is a whole JSON body through parseBody, forced to the entity as ?entity= does.
agreeFor(
  "the test entity set (test/project)",
  () => service,
  2000,
  (entity, record) => parseBody("json", JSON.stringify(record), new Set(), { forced: entity }).errors.length === 0,
);

const fixtures: Record<string, EntitySet> = {};
beforeAll(async () => {
  fixtures.types = await compiled(join(root, "test/fixtures/types"));
  fixtures.v1 = await compiled(join(root, "test/fixtures/v1"));
  fixtures.edges = await compiled(join(root, "test/fixtures/edges"));
  fixtures.yours = await compiled(join(root, "entities"));
});
// The user's own entities, whatever they are: generated valid records are accepted, near-valid ones are
// refused by the parser exactly when the OpenAPI schema refuses them.
agreeFor("your entities (entities/)", () => fixtures.yours, 1000);
agreeFor("every field type (test/fixtures/types)", () => fixtures.types, 3000);
agreeFor("v1 constraints and a derived entity (test/fixtures/v1)", () => fixtures.v1, 3000);
agreeFor("constraints on every numeric type, defaults, lists no entity repeats over (test/fixtures/edges)", () => fixtures.edges, 3000);

describe("what the document shows of an enum field", () => {
  it("is its values only, and the integers whose text is one of them (a number reaches a text field as its text)", () => {
    const grade = (z.toJSONSchema(fixtures.edges.schemas.Edge as z.ZodType, { unrepresentable: "any" }) as { properties: Record<string, unknown> }).properties
      .grade;
    expect(grade).toEqual({
      anyOf: [
        { type: "string", enum: ["1", "A"] },
        { type: "number", const: 1 },
      ],
    });
    const status = (z.toJSONSchema(fixtures.v1.schemas.Device as z.ZodType, { unrepresentable: "any" }) as { properties: Record<string, unknown> }).properties
      .status;
    expect(JSON.stringify(status)).not.toContain("integer");
  });
});
