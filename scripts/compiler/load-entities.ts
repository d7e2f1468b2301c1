/**
 * Reads entity YAML in both nomnom dialects and normalises it into EntityModel.
 * Every unknown key, type or transform is an error naming file, entity, field and value.
 */
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parseAllDocuments } from "yaml";
import { type Constraints, type Derivation, EntityError, type EntityModel, type FieldModel, type FieldType } from "./model.ts";

type Obj = Record<string, unknown>;

/** Locates an error: file, entity, field, so the message points at the YAML to fix. */
class Where {
  readonly file: string;
  readonly entity?: string;
  readonly field?: string;
  constructor(file: string, entity?: string, field?: string) {
    this.file = file;
    this.entity = entity;
    this.field = field;
  }
  with(entity?: string, field?: string): Where {
    return new Where(this.file, entity ?? this.entity, field ?? this.field);
  }
  fail(message: string): never {
    const parts = [this.file, this.entity && `entity ${this.entity}`, this.field && `field ${this.field}`].filter(Boolean);
    throw new EntityError(`${parts.join(", ")}: ${message}`);
  }
}

export const CLASSIC_TYPES: Record<string, FieldType | "object_list"> = {
  String: "string",
  Integer: "integer",
  BigInt: "bigint",
  i64: "bigint",
  Float: "float",
  Decimal: "decimal",
  Boolean: "boolean",
  Date: "date",
  NaiveDate: "date",
  DateTime: "timestamp",
  Uuid: "uuid",
  Object: "json",
  Json: "json",
  "List[String]": "string_list",
  "List[Object]": "object_list",
};
export const V1_TYPES: Record<string, FieldType> = {
  string: "string",
  integer: "integer",
  bigint: "bigint",
  float: "float",
  decimal: "decimal",
  boolean: "boolean",
  timestamp: "timestamp",
  date: "date",
  json: "json",
  uuid: "uuid",
  array: "string_list",
};
export const ITEM_TRANSFORMS: Record<string, { optional: boolean }> = {
  json_get_int: { optional: false },
  json_get_string: { optional: false },
  json_get_float: { optional: false },
  json_get_bool: { optional: false },
  json_get_optional_string: { optional: true },
  json_get_optional_float: { optional: true },
  json_get_optional_int: { optional: true },
};

const quote = (v: unknown) => JSON.stringify(v);

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function obj(v: unknown, where: Where, what: string): Obj {
  if (!isObj(v)) where.fail(`${what} must be a mapping, got ${quote(v)}`);
  return v;
}

function allowKeys(o: Obj, allowed: string[], where: Where, what: string): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) where.fail(`unknown key ${quote(key)} in ${what} (allowed: ${allowed.join(", ")})`);
  }
}

function str(v: unknown, where: Where, what: string): string {
  if (typeof v !== "string" || v === "") where.fail(`${what} must be a non-empty string, got ${quote(v)}`);
  return v;
}

function optBool(v: unknown, where: Where, what: string, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== "boolean") where.fail(`${what} must be true or false, got ${quote(v)}`);
  return v;
}

function strList(v: unknown, where: Where, what: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) where.fail(`${what} must be a list of names, got ${quote(v)}`);
  return v as string[];
}

export function snakeCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

const IDENT = /^[A-Za-z][A-Za-z0-9_]*$/;

/** The value constraints both dialects share (`constraints:` of a field), each checked against the field's type. */
const CONSTRAINT_KEYS = ["minLength", "maxLength", "minimum", "maximum", "pattern", "enum", "precision", "scale"] as const;
const TEXT_ONLY = new Set(["minLength", "maxLength", "pattern", "enum"]);
const NUMERIC_TYPES = new Set<FieldType>(["integer", "bigint", "float", "decimal"]);

function readConstraints(c: Obj, type: FieldType, at: Where): Constraints {
  const constraints: Constraints = {};
  for (const k of CONSTRAINT_KEYS) {
    if (c[k] === undefined) continue;
    if (TEXT_ONLY.has(k) && type !== "string") at.fail(`constraints.${k} applies to text only (String / string), not to ${type}`);
    if ((k === "minimum" || k === "maximum") && !NUMERIC_TYPES.has(type))
      at.fail(`constraints.${k} applies to numbers only (Integer, BigInt, Float, Decimal), not to ${type}`);
    if ((k === "precision" || k === "scale") && type !== "decimal") at.fail(`constraints.${k} applies to Decimal only, not to ${type}`);
  }
  for (const k of ["maxLength", "minLength", "minimum", "maximum", "precision", "scale"] as const) {
    if (c[k] === undefined) continue;
    if (typeof c[k] !== "number" || !Number.isFinite(c[k])) at.fail(`constraints.${k} must be a number, got ${quote(c[k])}`);
    constraints[k] = c[k];
  }
  for (const k of ["maxLength", "minLength", "precision", "scale"] as const) {
    const n = constraints[k];
    if (n !== undefined && (!Number.isInteger(n) || n < 0)) at.fail(`constraints.${k} must be a whole number of at least 0, got ${n}`);
  }
  if (constraints.precision !== undefined && (constraints.precision < 1 || constraints.precision > 1000))
    at.fail(`constraints.precision must be between 1 and 1000 (PostgreSQL numeric), got ${constraints.precision}`);
  if (constraints.scale !== undefined && constraints.precision === undefined) at.fail("constraints.scale needs constraints.precision");
  if (constraints.scale !== undefined && constraints.scale > constraints.precision!)
    at.fail(`constraints.scale (${constraints.scale}) may not exceed constraints.precision (${constraints.precision})`);
  if (constraints.minimum !== undefined && constraints.maximum !== undefined && constraints.minimum > constraints.maximum)
    at.fail(`constraints.minimum (${constraints.minimum}) is greater than constraints.maximum (${constraints.maximum})`);
  if (constraints.minLength !== undefined && constraints.maxLength !== undefined && constraints.minLength > constraints.maxLength)
    at.fail(`constraints.minLength (${constraints.minLength}) is greater than constraints.maxLength (${constraints.maxLength})`);
  if (c.pattern !== undefined) {
    constraints.pattern = str(c.pattern, at, "constraints.pattern");
    try {
      new RegExp(constraints.pattern, "u");
    } catch {
      at.fail(`constraints.pattern ${quote(c.pattern)} is not a valid regular expression`);
    }
  }
  if (c.enum !== undefined) {
    constraints.enum = strList(c.enum, at, "constraints.enum");
    if (constraints.enum.length === 0) at.fail("constraints.enum must list at least one value");
  }
  return constraints;
}

function classicField(raw: unknown, where: Where, listFields: EntityModel["listFields"]): FieldModel | undefined {
  const f = obj(raw, where, "a field");
  const name = str(f.name, where, "field name");
  const at: Where = where.with(undefined, name);
  if (!IDENT.test(name)) at.fail(`field name ${quote(name)} must be letters, digits and underscores`);
  allowKeys(f, ["name", "type", "nullable", "doc", "constraints", "computed_from", "default", "renamed_from"], at, "a field");
  const typeName = str(f.type, at, "type");
  const type = CLASSIC_TYPES[typeName];
  if (!type) at.fail(`unknown type ${quote(typeName)} (known: ${Object.keys(CLASSIC_TYPES).join(", ")})`);
  const nullable = optBool(f.nullable, at, "nullable", false);
  const doc = f.doc === undefined ? undefined : str(f.doc, at, "doc");
  if (type === "object_list") {
    if (f.computed_from !== undefined) at.fail("a List[Object] field cannot be computed");
    if (f.constraints !== undefined) at.fail("a List[Object] field cannot have constraints");
    listFields.push({ key: name, nullable, doc });
    return undefined;
  }
  // The same value constraints as the nomnom.io/v1 dialect; nullable and default stay keys of the field here.
  const c = obj(f.constraints ?? {}, at, "constraints");
  allowKeys(c, [...CONSTRAINT_KEYS], at, "constraints");
  const field: FieldModel = { key: name, column: snakeCase(name), type, nullable, doc, constraints: readConstraints(c, type, at) };
  if (f.computed_from !== undefined) field.derivation = classicDerivation(f.computed_from, at, field);
  evolution(field, f.default, f.renamed_from, at);
  return field;
}

function classicDerivation(raw: unknown, at: Where, field: FieldModel): Derivation {
  const c = obj(raw, at, "computed_from");
  allowKeys(c, ["transform", "sources", "args"], at, "computed_from");
  const transform = str(c.transform, at, "computed_from.transform");
  const args = c.args === undefined ? {} : obj(c.args, at, "computed_from.args");
  const sources = c.sources === undefined ? [] : c.sources;
  if (!Array.isArray(sources)) at.fail(`computed_from.sources must be a list, got ${quote(sources)}`);
  if (transform === "copy_field" || transform === "copy_from_parent") {
    const source = sources[0];
    const fromSource = isObj(source) && typeof source.field === "string" ? source.field : undefined;
    const fromArgs = typeof args.field === "string" ? args.field : undefined;
    return { from: "parent", field: fromSource ?? fromArgs ?? field.key };
  }
  if (transform === "extract_field") {
    const path = str(args.field_path, at, "computed_from.args.field_path");
    if (!IDENT.test(path)) at.fail(`extract_field path ${quote(path)} is not a plain key (nested paths are not supported)`);
    return { from: "item", key: path };
  }
  const itemTransform = ITEM_TRANSFORMS[transform];
  if (!itemTransform) {
    at.fail(`unknown transform ${quote(transform)} (known: copy_field, copy_from_parent, extract_field, ${Object.keys(ITEM_TRANSFORMS).join(", ")})`);
  }
  if (itemTransform.optional && !field.nullable) at.fail(`transform ${transform} can yield null, so the field must be nullable`);
  return { from: "item", key: str(args.field, at, "computed_from.args.field") };
}

/** What a default must look like, per type: checked at build time, so a bad one never reaches a migration. */
const DEFAULT_FORMS: Partial<Record<FieldType, RegExp>> = {
  string: /^/,
  integer: /^[+-]?\d{1,10}$/,
  bigint: /^[+-]?\d{1,19}$/,
  float: /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/,
  decimal: /^[+-]?(\d+(\.\d*)?|\.\d+)$/,
  boolean: /^(true|false)$/,
  date: /^\d{4}-\d{2}-\d{2}$/,
};

/** The schema-evolution keys of a field: `default` (a missing value) and `renamed_from` (its former name). */
function evolution(field: FieldModel, rawDefault: unknown, renamedFrom: unknown, at: Where): void {
  if (rawDefault !== undefined) {
    if (rawDefault === null || !["string", "number", "boolean"].includes(typeof rawDefault)) at.fail(`default must be a scalar, got ${quote(rawDefault)}`);
    const text = String(rawDefault);
    const form = DEFAULT_FORMS[field.type];
    if (!form) at.fail(`a default is not supported for type ${field.type}`);
    if (!form.test(text)) at.fail(`default ${quote(rawDefault)} is not a valid ${field.type}`);
    if (field.derivation) at.fail("a computed field cannot have a default");
    field.default = text;
  }
  if (renamedFrom !== undefined) {
    const former = str(renamedFrom, at, "renamed_from");
    if (!IDENT.test(former)) at.fail(`renamed_from ${quote(former)} must be letters, digits and underscores`);
    if (former === field.key) at.fail("renamed_from names the field itself");
    field.renamedFrom = former;
  }
}

function loadClassic(doc: Obj, where: Where): EntityModel {
  const e = obj(doc.entity, where, "entity");
  const name = str(e.name, where, "entity name");
  const at: Where = where.with(name);
  allowKeys(e, ["name", "source_type", "type", "prefix", "doc", "repeated_for", "fields", "persistence"], at, "entity");
  const kind = e.source_type ?? e.type ?? "root";
  if (kind !== "root" && kind !== "derived" && kind !== "reference") at.fail(`unknown source_type ${quote(kind)} (known: root, derived, reference)`);
  if (!Array.isArray(e.fields) || e.fields.length === 0) at.fail("fields must be a non-empty list");
  const listFields: EntityModel["listFields"] = [];
  const fields = e.fields.map((f) => classicField(f, at, listFields)).filter((f): f is FieldModel => f !== undefined);

  let repeatedFor: EntityModel["repeatedFor"];
  if (e.repeated_for !== undefined) {
    const r = obj(e.repeated_for, at, "repeated_for");
    allowKeys(r, ["entity", "field", "each_known_as"], at, "repeated_for");
    repeatedFor = {
      entity: str(r.entity, at, "repeated_for.entity"),
      field: str(r.field, at, "repeated_for.field"),
      itemName: typeof r.each_known_as === "string" ? r.each_known_as : "item",
    };
  }
  const p = obj(e.persistence ?? {}, at, "persistence");
  allowKeys(p, ["database", "primary_key", "field_overrides"], at, "persistence");
  const db = obj(p.database ?? {}, at, "persistence.database");
  allowKeys(db, ["conformant_table", "conformant_id_column", "unicity_fields", "allow_duplicates", "indexes"], at, "persistence.database");
  const pk = obj(p.primary_key ?? {}, at, "persistence.primary_key");
  allowKeys(pk, ["name", "type", "autogenerate"], at, "persistence.primary_key");
  const pkType = pk.type === undefined ? "BigInt" : str(pk.type, at, "primary_key.type");
  if (CLASSIC_TYPES[pkType] !== "integer" && CLASSIC_TYPES[pkType] !== "bigint") at.fail(`primary_key.type must be Integer or BigInt, got ${quote(pkType)}`);
  if (pk.autogenerate === false) at.fail("primary_key.autogenerate: false is not supported (ids are generated by the database)");

  for (const raw of (p.field_overrides ?? []) as unknown[]) applyOverride(raw, fields, at);

  return {
    name,
    kind,
    file: where.file,
    fields,
    listFields,
    repeatedFor,
    prefix: e.prefix === undefined ? name[0] : str(e.prefix, at, "prefix"),
    doc: typeof e.doc === "string" ? e.doc : undefined,
    table: db.conformant_table === undefined ? snakeCase(name) + "s" : str(db.conformant_table, at, "conformant_table"),
    idColumn: db.conformant_id_column === undefined ? "id" : str(db.conformant_id_column, at, "conformant_id_column"),
    idType: CLASSIC_TYPES[pkType] as "integer" | "bigint",
    naturalKey: naturalKey(db.unicity_fields, db.allow_duplicates, at, "classic"),
    ...(db.allow_duplicates === true ? { allowDuplicates: true as const } : {}),
    indexes: db.indexes === undefined ? [] : (db.indexes as unknown[]).map((i) => strList(i, at, "an index").map(snakeCase)),
  };
}

function applyOverride(raw: unknown, fields: FieldModel[], at: Where): void {
  const o = obj(raw, at, "a field override");
  const name = str(o.name, at, "field override name");
  const fieldAt: Where = at.with(undefined, name);
  allowKeys(o, ["name", "type", "nullable"], fieldAt, "a field override");
  const field = fields.find((f) => f.key === name);
  if (!field) fieldAt.fail(`field override names no persisted field`);
  if (o.type !== undefined) {
    const type = CLASSIC_TYPES[str(o.type, fieldAt, "type")];
    if (!type || type === "object_list") fieldAt.fail(`unknown override type ${quote(o.type)}`);
    field.type = type;
  }
  field.nullable = optBool(o.nullable, fieldAt, "nullable", field.nullable);
}

function v1Field(raw: unknown, at: Where, listFields: EntityModel["listFields"]): FieldModel | undefined {
  const f = obj(raw, at, "a field");
  const name = str(f.name, at, "field name");
  const fieldAt: Where = at.with(undefined, name);
  if (!IDENT.test(name)) fieldAt.fail(`field name ${quote(name)} must be letters, digits and underscores`);
  allowKeys(f, ["name", "type", "items", "constraints", "source", "doc", "renamedFrom"], fieldAt, "a field");
  const typeName = str(f.type, fieldAt, "type");
  const c = obj(f.constraints ?? {}, fieldAt, "constraints");
  allowKeys(
    c,
    ["nullable", "maxLength", "minLength", "minimum", "maximum", "pattern", "enum", "default", "primaryKey", "indexed", "unique", "precision", "scale"],
    fieldAt,
    "constraints",
  );
  const nullable = optBool(c.nullable, fieldAt, "constraints.nullable", false);
  const doc = f.doc === undefined ? undefined : str(f.doc, fieldAt, "doc");
  if (typeName === "array" && (f.items === "object" || f.items === "json")) {
    listFields.push({ key: name, nullable, doc });
    return undefined;
  }
  const type = V1_TYPES[typeName];
  if (!type) fieldAt.fail(`unknown type ${quote(typeName)} (known: ${Object.keys(V1_TYPES).join(", ")})`);
  const field: FieldModel = { key: name, column: snakeCase(name), type, nullable, doc, constraints: readConstraints(c, type, fieldAt) };
  if (f.source !== undefined) field.derivation = v1Derivation(f.source, fieldAt, field);
  evolution(field, c.default, f.renamedFrom, fieldAt);
  return field;
}

function v1Derivation(raw: unknown, at: Where, field: FieldModel): Derivation {
  const s = obj(raw, at, "source");
  allowKeys(s, ["copyFrom", "field", "transform", "inputs", "args", "constant"], at, "source");
  if (s.constant !== undefined) {
    const value = s.constant;
    if (value !== null && !["string", "number", "boolean"].includes(typeof value)) at.fail(`source.constant must be a scalar, got ${quote(value)}`);
    return { from: "constant", value: value as string | number | boolean | null };
  }
  if (s.copyFrom !== undefined) return { from: "parent", field: s.field === undefined ? field.key : str(s.field, at, "source.field") };
  const transform = str(s.transform, at, "source.transform");
  const itemTransform = ITEM_TRANSFORMS[transform];
  if (!itemTransform) at.fail(`unknown transform ${quote(transform)}: the service cannot run it (known: ${Object.keys(ITEM_TRANSFORMS).join(", ")})`);
  const args = obj(s.args ?? {}, at, "source.args");
  if (itemTransform.optional && !field.nullable) at.fail(`transform ${transform} can yield null, so the field must be nullable`);
  return { from: "item", key: str(args.field, at, "source.args.field") };
}

function loadV1(doc: Obj, where: Where): EntityModel & { persisted: boolean } {
  allowKeys(doc, ["apiVersion", "kind", "metadata", "spec"], where, "the document");
  if (doc.kind !== "Entity") where.fail(`unknown kind ${quote(doc.kind)} (known: Entity)`);
  const meta = obj(doc.metadata, where, "metadata");
  const name = str(meta.name, where, "metadata.name");
  const at: Where = where.with(name);
  const spec = obj(doc.spec, at, "spec");
  allowKeys(spec, ["type", "repetition", "derivation", "prefix", "doc", "fields", "persistence"], at, "spec");
  const kind = spec.type ?? "root";
  if (kind !== "root" && kind !== "derived" && kind !== "reference") at.fail(`unknown spec.type ${quote(kind)} (known: root, derived, reference)`);
  if (spec.repetition !== undefined && spec.repetition !== "singleton" && spec.repetition !== "repeated")
    at.fail(`unknown spec.repetition ${quote(spec.repetition)} (known: singleton, repeated)`);
  if (!Array.isArray(spec.fields) || spec.fields.length === 0) at.fail("spec.fields must be a non-empty list");
  const listFields: EntityModel["listFields"] = [];
  const fields = spec.fields.map((f) => v1Field(f, at, listFields)).filter((f): f is FieldModel => f !== undefined);
  let repeatedFor: EntityModel["repeatedFor"];
  if (spec.derivation !== undefined) {
    const d = obj(spec.derivation, at, "spec.derivation");
    allowKeys(d, ["parent", "parents", "repeatedFor"], at, "spec.derivation");
    if (d.repeatedFor !== undefined) {
      const r = obj(d.repeatedFor, at, "spec.derivation.repeatedFor");
      allowKeys(r, ["entity", "field", "itemName"], at, "spec.derivation.repeatedFor");
      repeatedFor = {
        entity: str(r.entity, at, "repeatedFor.entity"),
        field: str(r.field, at, "repeatedFor.field"),
        itemName: typeof r.itemName === "string" ? r.itemName : "item",
      };
    }
  }
  const p = obj(spec.persistence ?? {}, at, "spec.persistence");
  allowKeys(p, ["enabled", "table", "indexes", "unicity"], at, "spec.persistence");
  const unicity = obj(p.unicity ?? {}, at, "spec.persistence.unicity");
  allowKeys(unicity, ["fields", "allowDuplicates"], at, "spec.persistence.unicity");
  const persisted = optBool(p.enabled, at, "persistence.enabled", true);
  const indexes = ((p.indexes ?? []) as unknown[]).map((raw) => {
    const i = isObj(raw) ? raw.fields : raw;
    return strList(i, at, "an index").map(snakeCase);
  });
  for (const raw of spec.fields as Obj[]) {
    if (isObj(raw.constraints) && (raw.constraints.indexed === true || raw.constraints.unique === true)) indexes.push([snakeCase(String(raw.name))]);
  }
  return {
    name,
    kind,
    file: where.file,
    fields,
    listFields,
    repeatedFor,
    persisted,
    prefix: spec.prefix === undefined ? name[0] : str(spec.prefix, at, "spec.prefix"),
    doc: typeof spec.doc === "string" ? spec.doc : undefined,
    table: p.table === undefined ? snakeCase(name) + "s" : str(p.table, at, "persistence.table"),
    idColumn: "id",
    idType: "bigint",
    naturalKey: persisted ? naturalKey(unicity.fields, unicity.allowDuplicates, at, "v1") : [],
    ...(unicity.allowDuplicates === true ? { allowDuplicates: true as const } : {}),
    indexes,
  };
}

/**
 * The natural key is what makes a retried request harmless (ON CONFLICT DO NOTHING on its unique
 * index), so an entity must declare one, or say explicitly that retries may duplicate its rows.
 */
function naturalKey(fields: unknown, allowDuplicates: unknown, at: Where, dialect: "classic" | "v1"): string[] {
  const [fieldsKey, allowKey] =
    dialect === "classic" ? ["persistence.database.unicity_fields", "allow_duplicates"] : ["spec.persistence.unicity.fields", "allowDuplicates"];
  const allow = optBool(allowDuplicates, at, allowKey, false);
  const keys = fields === undefined ? [] : strList(fields, at, fieldsKey).map(snakeCase);
  if (keys.length === 0 && !allow) {
    const example =
      dialect === "classic" ? "persistence: { database: { unicity_fields: [a_field] } }" : "spec: { persistence: { unicity: { fields: [aField] } } }";
    at.fail(
      `no natural key: declare the fields that identify a record, e.g. ${example}, so a retried request is recognised instead of inserted again. ` +
        `If retries may really insert duplicates, say so with ${fieldsKey}: [] and ${allowKey}: true.`,
    );
  }
  if (keys.length > 0 && allow) at.fail(`${allowKey}: true with a natural key: leave ${allowKey} out (the natural key already removes duplicates)`);
  return keys;
}

/** Cross-entity checks: prefixes, parents, copied fields, keys. */
function checkAll(entities: EntityModel[]): void {
  const seen = new Map<string, EntityModel>();
  const names = new Set<string>();
  for (const e of entities) {
    const at: Where = new Where(e.file, e.name);
    if (!/^[A-Z][A-Za-z0-9]*$/.test(e.name)) at.fail(`entity name ${quote(e.name)} must be PascalCase`);
    if (names.has(e.name)) at.fail(`entity name ${quote(e.name)} is declared twice`);
    names.add(e.name);
    if (e.prefix.includes("|") || /\s/.test(e.prefix)) at.fail(`prefix ${quote(e.prefix)} may not contain "|" or spaces`);
    const other = seen.get(e.prefix);
    if (other) at.fail(`prefix ${quote(e.prefix)} is already used by entity ${other.name} (${other.file})`);
    seen.set(e.prefix, e);
    const columns = new Set<string>();
    for (const f of e.fields) {
      if (columns.has(f.column) || f.column === e.idColumn) at.with(undefined, f.key).fail(`column ${quote(f.column)} is declared twice`);
      columns.add(f.column);
    }
    for (const k of [...e.naturalKey, ...e.indexes.flat()]) if (!columns.has(k)) at.fail(`unicity or index field ${quote(k)} is not a persisted field`);
    for (const k of e.naturalKey) {
      // A unique index lets NULLs repeat: a retried batch would insert such rows twice.
      if (e.fields.find((f) => f.column === k)!.nullable)
        at.with(undefined, k).fail(`is in unicity_fields, so it must not be nullable (NULLs would make retries insert duplicates)`);
    }
  }
  for (const e of entities) {
    const at: Where = new Where(e.file, e.name);
    const derived = e.fields.filter((f) => f.derivation);
    if (!e.repeatedFor) {
      if (derived.length > 0) at.with(undefined, derived[0].key).fail("a computed field needs repeated_for on its entity");
      continue;
    }
    const parent = entities.find((p) => p.name === e.repeatedFor!.entity);
    if (!parent) at.fail(`repeated_for.entity ${quote(e.repeatedFor.entity)} is not a declared entity`);
    if (!parent.listFields.some((l) => l.key === e.repeatedFor!.field))
      at.fail(`repeated_for.field ${quote(e.repeatedFor.field)} is not a List[Object] field of ${parent.name}`);
    for (const f of e.fields) {
      const fieldAt: Where = at.with(undefined, f.key);
      if (!f.derivation) fieldAt.fail(`a field of a repeated entity needs computed_from`);
      const derivation = f.derivation;
      if (derivation.from === "parent" && !parent.fields.some((pf) => pf.key === derivation.field)) {
        fieldAt.fail(`copies ${quote(derivation.field)}, which is not a field of ${parent.name}`);
      }
    }
  }
}

export type LoadedEntity = EntityModel & { persisted?: boolean };

/** Loads every *.yaml / *.yml file of a folder, sorted by file name so output is reproducible. */
export function loadEntities(dir: string): EntityModel[] {
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  if (files.length === 0) throw new EntityError(`${dir}: no entity YAML files found`);
  const all: LoadedEntity[] = [];
  for (const file of files) {
    const text = readFileSync(join(dir, file), "utf8");
    all.push(...loadEntityText(text, `${basename(dir)}/${file}`));
  }
  const entities = all.filter((e) => e.persisted !== false).map(({ persisted: _, ...e }) => e);
  checkAll(entities);
  return entities;
}

/** One file may hold several YAML documents, in either dialect. */
export function loadEntityText(text: string, file: string): LoadedEntity[] {
  const where = new Where(file);
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) where.fail(`invalid YAML: ${doc.errors[0].message}`);
    const data = doc.toJS() as unknown;
    const root = obj(data, where, "the document");
    if (root.apiVersion !== undefined) {
      if (root.apiVersion !== "nomnom.io/v1") where.fail(`unknown apiVersion ${quote(root.apiVersion)} (known: nomnom.io/v1)`);
      return loadV1(root, where);
    }
    if (root.entity !== undefined) {
      allowKeys(root, ["entity"], where, "the document");
      return loadClassic(root, where);
    }
    return where.fail(`neither an "entity:" document nor "apiVersion: nomnom.io/v1" (top-level keys: ${Object.keys(root).join(", ")})`);
  });
}
