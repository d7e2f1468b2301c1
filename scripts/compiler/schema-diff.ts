/**
 * The database schema as the entities declare it (a snapshot, committed under migrations/meta/),
 * and the migration from one snapshot to the next: only additive changes, widenings and declared
 * renames are generated; anything that could lose data or shift older senders' fields is refused
 * with an error that names the file, entity and field, the old and new value, and what to do.
 */
import { sqlId, sqlType } from "./generate-registry.ts";
import { EntityError, type EntityModel, type FieldModel, type FieldType } from "./model.ts";

export interface SnapshotField {
  key: string;
  column: string;
  type: FieldType;
  sqlType: string;
  nullable: boolean;
  default?: string;
  checks: string[];
}

export interface SnapshotEntity {
  name: string;
  prefix: string;
  table: string;
  idColumn: string;
  idType: "integer" | "bigint";
  /** Persisted scalar fields in wire order. */
  fields: SnapshotField[];
  naturalKey: string[];
  indexes: string[][];
}

/** SQL CHECK expressions of a field's declared constraints. */
export function checksOf(f: FieldModel): string[] {
  const c = f.constraints;
  const col = sqlId(f.column);
  const out: string[] = [];
  if (c.minLength !== undefined) out.push(`char_length(${col}) >= ${c.minLength}`);
  if (c.minimum !== undefined) out.push(`${col} >= ${c.minimum}`);
  if (c.maximum !== undefined) out.push(`${col} <= ${c.maximum}`);
  if (c.enum !== undefined) out.push(`${col} IN (${c.enum.map((v) => `'${v.replace(/'/g, "''")}'`).join(", ")})`);
  return out;
}

export function snapshotOf(entities: EntityModel[]): SnapshotEntity[] {
  return entities.map((e) => ({
    name: e.name,
    prefix: e.prefix,
    table: e.table,
    idColumn: e.idColumn,
    idType: e.idType,
    fields: e.fields.map((f) => ({
      key: f.key,
      column: f.column,
      type: f.type,
      sqlType: sqlType(f),
      nullable: f.nullable,
      ...(f.default !== undefined ? { default: f.default } : {}),
      checks: checksOf(f),
    })),
    naturalKey: e.naturalKey,
    indexes: e.indexes,
  }));
}

export interface SchemaChange {
  statements: string[];
  /** What changed, one line each, for the migration's name and the build's output. */
  summary: string[];
  /** A rename: a Worker built before this migration would write columns that no longer exist. */
  breaksOlderWorkers: boolean;
}

const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;

function columnDefinition(f: SnapshotField): string {
  const parts = [sqlId(f.column), f.sqlType];
  if (f.default !== undefined) parts.push(`DEFAULT ${literal(f.default)}`);
  if (!f.nullable) parts.push("NOT NULL");
  for (const check of f.checks) parts.push(`CHECK (${check})`);
  return parts.join(" ");
}

const indexName = (table: string, columns: string[]) => `${table}_${columns.join("_")}_idx`;

function createIndexes(e: SnapshotEntity, indexes: string[][]): string[] {
  return indexes.map((columns) => `CREATE INDEX ${sqlId(indexName(e.table, columns))} ON ${sqlId(e.table)} (${columns.map(sqlId).join(", ")});`);
}

function createTable(e: SnapshotEntity): string[] {
  const lines = [`  ${sqlId(e.idColumn)} ${e.idType} GENERATED ALWAYS AS IDENTITY PRIMARY KEY`, ...e.fields.map((f) => `  ${columnDefinition(f)}`)];
  const statements = [`CREATE TABLE ${sqlId(e.table)} (\n${lines.join(",\n")}\n);`];
  if (e.naturalKey.length > 0) {
    statements.push(`CREATE UNIQUE INDEX ${sqlId(`${e.table}_natural_key`)} ON ${sqlId(e.table)} (${e.naturalKey.map(sqlId).join(", ")});`);
  }
  return [...statements, ...createIndexes(e, e.indexes)];
}

/** Widenings PostgreSQL applies in place, keeping every stored value. */
function widens(from: SnapshotField, to: SnapshotField): boolean {
  if (from.type === "integer" && to.type === "bigint") return true;
  if ((from.type === "integer" || from.type === "bigint") && to.type === "decimal" && to.sqlType === "numeric") return true;
  if (from.type === "string" && to.type === "string") {
    const length = (t: string) => (t === "text" ? Infinity : Number(/^varchar\((\d+)\)$/.exec(t)?.[1] ?? Number.NaN));
    return length(to.sqlType) > length(from.sqlType);
  }
  return from.type === "decimal" && to.type === "decimal" && to.sqlType === "numeric";
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The statements that take a database from `before` to the entities' schema, or an EntityError
 * for a change that could lose data or mislead older senders.
 */
export function diffSchema(before: SnapshotEntity[], entities: EntityModel[]): SchemaChange {
  const after = snapshotOf(entities);
  const change: SchemaChange = { statements: [], summary: [], breaksOlderWorkers: false };
  const fileOf = (name: string) => entities.find((e) => e.name === name)?.file ?? "entities";
  const refuse = (entity: string, field: string | undefined, what: string, todo: string): never => {
    throw new EntityError(`${fileOf(entity)}, entity ${entity}${field ? `, field ${field}` : ""}: ${what}. ${todo}`);
  };

  for (const old of before) {
    if (!after.some((e) => e.name === old.name)) {
      throw new EntityError(
        `entity ${old.name} (table ${old.table}) was removed: removing an entity would leave its table and rows behind with nothing to write them, and older senders' lines would be refused. Keep its YAML file; to retire it, drop the table by hand after exporting it.`,
      );
    }
  }

  for (const e of after) {
    const old = before.find((b) => b.name === e.name);
    if (!old) {
      change.statements.push(...createTable(e));
      change.summary.push(`create ${e.table}`);
      continue;
    }
    const model = entities.find((m) => m.name === e.name)!;
    if (old.table !== e.table)
      refuse(
        e.name,
        undefined,
        `the table changed (${old.table} → ${e.table})`,
        "Tables are not renamed by migrations: keep the table name (conformant_table / persistence.table).",
      );
    if (old.prefix !== e.prefix)
      refuse(
        e.name,
        undefined,
        `the prefix changed (${old.prefix} → ${e.prefix})`,
        "Older senders' lines would no longer be recognised: keep the prefix, or declare a new entity.",
      );
    if (old.idColumn !== e.idColumn || old.idType !== e.idType)
      refuse(e.name, undefined, `the primary key changed (${old.idColumn} ${old.idType} → ${e.idColumn} ${e.idType})`, "Keep the primary key as it is.");
    if (!same(old.naturalKey, e.naturalKey)) {
      refuse(
        e.name,
        undefined,
        `the natural key changed (${old.naturalKey.join(", ") || "none"} → ${e.naturalKey.join(", ") || "none"})`,
        "Stored rows were deduplicated by the old key, so retries would no longer be recognised: keep unicity_fields as they are, or declare a new entity.",
      );
    }

    // Match each field to its former self: by key, or by a declared rename.
    const formerOf = (f: SnapshotField): SnapshotField | undefined => {
      const byKey = old.fields.find((o) => o.key === f.key);
      if (byKey) return byKey;
      const renamedFrom = model.fields.find((m) => m.key === f.key)?.renamedFrom;
      return renamedFrom === undefined ? undefined : old.fields.find((o) => o.key === renamedFrom);
    };
    const matched = e.fields.map((f) => ({ f, former: formerOf(f) }));
    for (const o of old.fields) {
      if (!matched.some((m) => m.former === o)) {
        refuse(
          e.name,
          o.key,
          `the field was removed (column ${o.column})`,
          `Removing it would drop its data and shift the pipe positions of every later field. Keep it (make it nullable: true if senders stop filling it), or, if it was renamed, declare renamed_from: ${o.key} on the new name.`,
        );
      }
    }
    // Pipe positions never move: the old fields keep their order, and new ones come after them.
    let lastOld = -1;
    let firstNew: SnapshotField | undefined;
    matched.forEach(({ f, former }, position) => {
      if (!former) {
        firstNew ??= f;
        return;
      }
      const oldPosition = old.fields.indexOf(former);
      if (oldPosition < lastOld)
        refuse(
          e.name,
          f.key,
          `the field moved (position ${oldPosition + 1} → ${position + 1})`,
          "Reordering fields would silently shift every older sender's values into other columns: keep the old order.",
        );
      lastOld = oldPosition;
      if (firstNew) {
        refuse(
          e.name,
          firstNew.key,
          `the new field is inserted before existing field ${f.key} (which would move from position ${oldPosition + 1} to ${position + 1})`,
          "Older senders' lines would shift into the wrong columns: add new fields after the last existing field.",
        );
      }
    });

    const table = sqlId(e.table);
    for (const { f, former } of matched) {
      if (!former) {
        if (!f.nullable && f.default === undefined) {
          refuse(
            e.name,
            f.key,
            "a new required field has no default",
            "Existing rows and older senders have no value for it: make it nullable: true, or give it a default:.",
          );
        }
        change.statements.push(`ALTER TABLE ${table} ADD COLUMN ${columnDefinition(f)};`);
        change.summary.push(`${e.table} add ${f.column}`);
        continue;
      }
      let column = former.column;
      if (former.key !== f.key) {
        change.statements.push(`ALTER TABLE ${table} RENAME COLUMN ${sqlId(former.column)} TO ${sqlId(f.column)};`);
        change.summary.push(`${e.table} rename ${former.column} to ${f.column}`);
        change.breaksOlderWorkers = true;
        column = f.column;
      }
      if (former.sqlType !== f.sqlType) {
        if (!widens(former, f)) {
          refuse(
            e.name,
            f.key,
            `the type changed incompatibly (${former.sqlType} → ${f.sqlType})`,
            "Only widenings are migrated (Integer → BigInt, a longer or unbounded String, Integer → Decimal): add a new field of the new type instead.",
          );
        }
        change.statements.push(`ALTER TABLE ${table} ALTER COLUMN ${sqlId(column)} TYPE ${f.sqlType};`);
        change.summary.push(`${e.table} widen ${column}`);
      }
      if (former.nullable && !f.nullable) {
        refuse(
          e.name,
          f.key,
          "the field changed from nullable to required",
          "Stored rows may hold NULL and older senders may leave it empty: keep it nullable, or add a new required field with a default.",
        );
      }
      if (!former.nullable && f.nullable) {
        change.statements.push(`ALTER TABLE ${table} ALTER COLUMN ${sqlId(column)} DROP NOT NULL;`);
        change.summary.push(`${e.table} ${column} nullable`);
      }
      if (former.default !== f.default) {
        change.statements.push(
          f.default === undefined
            ? `ALTER TABLE ${table} ALTER COLUMN ${sqlId(column)} DROP DEFAULT;`
            : `ALTER TABLE ${table} ALTER COLUMN ${sqlId(column)} SET DEFAULT ${literal(f.default)};`,
        );
        change.summary.push(`${e.table} ${column} default`);
      }
      // A rename rewrites the column's name inside its checks; compare them under the new name.
      const formerChecks = former.checks.map((c) => c.split(sqlId(former.column)).join(sqlId(f.column)));
      if (!same(formerChecks, f.checks)) {
        refuse(
          e.name,
          f.key,
          `the checked constraints changed (${formerChecks.join(" AND ") || "none"} → ${f.checks.join(" AND ") || "none"})`,
          "minimum, maximum, minLength and enum are CHECK constraints in the database and are not migrated automatically: keep them, or change them with a hand-written migration file (the next number in migrations/) and then run npm run build.",
        );
      }
    }

    const key = (columns: string[]) => columns.join(",");
    const renamedIndex = (columns: string[]) => columns.map((c) => matched.find((m) => m.former?.column === c)?.f.column ?? c);
    const oldIndexes = old.indexes.map(renamedIndex);
    const added = e.indexes.filter((i) => !oldIndexes.some((o) => key(o) === key(i)));
    const dropped = old.indexes.filter((_, n) => !e.indexes.some((i) => key(i) === key(oldIndexes[n])));
    change.statements.push(...createIndexes(e, added));
    for (const columns of added) change.summary.push(`${e.table} index ${columns.join("_")}`);
    for (const columns of dropped) {
      change.statements.push(`DROP INDEX IF EXISTS ${sqlId(indexName(old.table, columns))};`);
      change.summary.push(`${e.table} drop index ${columns.join("_")}`);
    }
  }
  return change;
}
