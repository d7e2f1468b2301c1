/**
 * The database schema as the entities declare it (a snapshot, committed under migrations/meta/),
 * and the migration from one snapshot to the next. Additive changes, widenings, declared renames and
 * changed CHECK constraints are generated; changes that lose data (a dropped field or entity, a lossy
 * type change) only with --allow-destructive; anything that would shift older senders' fields is
 * refused. Each refusal names the file, entity and field, the old and new value, and what to do.
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
  /**
   * Dropped with --allow-destructive: no column any more, but its pipe position stays reserved so
   * that no later field moves (a value sent there is ignored).
   */
  dropped?: true;
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
  /** A rename or a drop: a Worker built before this migration would write columns that no longer exist. */
  breaksOlderWorkers: boolean;
  /** The destructive statements (DROP …, lossy ALTER), listed by the build's output. */
  destructive: string[];
  /** The schema after the change, with the reserved positions of dropped fields: the next snapshot. */
  after: SnapshotEntity[];
}

export interface DiffOptions {
  /** Generate changes that lose data (drop a field or entity, a lossy type change) instead of refusing them. */
  allowDestructive?: boolean;
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

const varcharLength = (t: string) => (t === "text" ? Infinity : Number(/^varchar\((\d+)\)$/.exec(t)?.[1] ?? Number.NaN));
/** numeric(p, s) as [digits before the point, digits after]; unbounded numeric as infinite. */
const numericDigits = (t: string): [number, number] => {
  const m = /^numeric\((\d+), (\d+)\)$/.exec(t);
  return m ? [Number(m[1]) - Number(m[2]), Number(m[2])] : [Infinity, Infinity];
};

/** Widenings PostgreSQL applies in place, keeping every stored value. */
function widens(from: SnapshotField, to: SnapshotField): boolean {
  if (from.type === "integer" && to.type === "bigint") return true;
  if ((from.type === "integer" || from.type === "bigint") && to.type === "decimal" && to.sqlType === "numeric") return true;
  if (from.type === "string" && to.type === "string") return varcharLength(to.sqlType) > varcharLength(from.sqlType);
  if (from.type === "decimal" && to.type === "decimal") {
    const [fromInt, fromScale] = numericDigits(from.sqlType);
    const [toInt, toScale] = numericDigits(to.sqlType);
    return toInt >= fromInt && toScale >= fromScale;
  }
  return false;
}

/** A shorter varchar: no value is changed, but a longer one makes the migration fail (checked first, counted). */
const shortens = (from: SnapshotField, to: SnapshotField) =>
  from.type === "string" && to.type === "string" && varcharLength(to.sqlType) < varcharLength(from.sqlType);

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * A statement that fails the migration (and so rolls it back whole) when stored rows break a new
 * rule, saying how many do: PostgreSQL's own error would name neither the rows' count nor what to do.
 */
function failIfRowsViolate(table: string, column: string, condition: string, rule: string): string {
  const what = `row(s) of table ${table} break the new rule for column ${column} (${rule}): change or delete them (npm run sql), or keep the old rule; then migrate again`;
  return [
    "DO $nomnom$",
    "DECLARE violating bigint;",
    "BEGIN",
    `  SELECT count(*) INTO violating FROM ${sqlId(table)} WHERE NOT (${condition});`,
    `  IF violating > 0 THEN RAISE EXCEPTION '% ${what.replace(/'/g, "''").replace(/%/g, "%%")}', violating; END IF;`,
    "END",
    "$nomnom$;",
  ].join("\n");
}

/** Drops every CHECK constraint of one column, whatever its name (PostgreSQL named the ones declared inline). */
function dropChecks(table: string, column: string): string {
  return [
    "DO $nomnom$",
    "DECLARE c record;",
    "BEGIN",
    `  FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = ${literal(sqlId(table))}::regclass AND contype = 'c'`,
    `    AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = ${literal(sqlId(table))}::regclass AND attname = ${literal(column)})]`,
    "  LOOP",
    `    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', ${literal(table)}, c.conname);`,
    "  END LOOP;",
    "END",
    "$nomnom$;",
  ].join("\n");
}

/**
 * The statements that take a database from `before` to the entities' schema, or an EntityError
 * for a change that could lose data (unless allowed) or mislead older senders.
 */
export function diffSchema(before: SnapshotEntity[], entities: EntityModel[], options: DiffOptions = {}): SchemaChange {
  const declared = snapshotOf(entities);
  const change: SchemaChange = { statements: [], summary: [], breaksOlderWorkers: false, destructive: [], after: [] };
  const fileOf = (name: string) => entities.find((e) => e.name === name)?.file ?? "entities";
  const refuse = (entity: string, field: string | undefined, what: string, todo: string): never => {
    throw new EntityError(`${fileOf(entity)}, entity ${entity}${field ? `, field ${field}` : ""}: ${what}. ${todo}`);
  };
  const destroy = (statement: string, summary: string) => {
    change.statements.push(statement);
    change.summary.push(summary);
    change.destructive.push(statement);
    change.breaksOlderWorkers = true;
  };
  const DESTRUCTIVE = "npm run build -- --allow-destructive";

  for (const old of before) {
    if (declared.some((e) => e.name === old.name)) continue;
    if (!options.allowDestructive) {
      throw new EntityError(
        `entity ${old.name} (table ${old.table}) was removed: that drops its table and every row in it, and older senders' lines with prefix ${old.prefix} would be refused. ` +
          `Keep its YAML file; or, to drop the table, run \`${DESTRUCTIVE}\` (export the rows first if you need them).`,
      );
    }
    destroy(`DROP TABLE ${sqlId(old.table)};`, `drop table ${old.table}`);
  }

  for (const e of declared) {
    const old = before.find((b) => b.name === e.name);
    if (!old) {
      change.statements.push(...createTable(e));
      change.summary.push(`create ${e.table}`);
      change.after.push(e);
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

    // Match each field to its former self: by key, or by a declared rename. Reserved positions match nothing.
    const live = old.fields.filter((o) => !o.dropped);
    const formerOf = (f: SnapshotField): SnapshotField | undefined => {
      const byKey = live.find((o) => o.key === f.key);
      if (byKey) return byKey;
      const renamedFrom = model.fields.find((m) => m.key === f.key)?.renamedFrom;
      return renamedFrom === undefined ? undefined : live.find((o) => o.key === renamedFrom);
    };
    const matched = e.fields.map((f) => ({ f, former: formerOf(f) }));
    const table = sqlId(e.table);
    for (const o of live) {
      if (matched.some((m) => m.former === o)) continue;
      const position = old.fields.indexOf(o) + 1;
      if (!options.allowDestructive) {
        const later = old.fields.length - position;
        const positions =
          later > 0
            ? `its pipe position ${position} stays reserved, so the ${later} later field${later === 1 ? " keeps its position" : "s keep their positions"}`
            : `its pipe position ${position} stays reserved: a value sent there is ignored`;
        refuse(
          e.name,
          o.key,
          `the field was removed (column ${o.column})`,
          `Removing it drops the column and its data. Keep it (make it nullable: true if senders stop filling it); if it was renamed, declare renamed_from: ${o.key} on the new name; ` +
            `or drop it with \`${DESTRUCTIVE}\` (${positions}).`,
        );
      }
      destroy(`ALTER TABLE ${table} DROP COLUMN ${sqlId(o.column)};`, `${e.table} drop ${o.column}`);
    }
    // Pipe positions never move: the old fields keep their order, and new ones come after them.
    let lastOld = -1;
    let firstNew: SnapshotField | undefined;
    matched.forEach(({ f, former }, index) => {
      if (!former) {
        firstNew ??= f;
        return;
      }
      const oldPosition = old.fields.indexOf(former);
      if (oldPosition < lastOld)
        refuse(
          e.name,
          f.key,
          `the field moved (position ${oldPosition + 1} → ${index + 1})`,
          "Reordering fields would silently shift every older sender's values into other columns: keep the old order.",
        );
      lastOld = oldPosition;
      if (firstNew) {
        refuse(
          e.name,
          firstNew.key,
          `the new field is inserted before existing field ${f.key} (which is at position ${oldPosition + 1})`,
          "Older senders' lines would shift into the wrong columns: add new fields after the last existing field.",
        );
      }
    });

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
        if (widens(former, f)) {
          change.statements.push(`ALTER TABLE ${table} ALTER COLUMN ${sqlId(column)} TYPE ${f.sqlType};`);
          change.summary.push(`${e.table} widen ${column}`);
        } else if (shortens(former, f)) {
          const length = varcharLength(f.sqlType);
          change.statements.push(failIfRowsViolate(e.table, column, `char_length(${sqlId(column)}) <= ${length}`, `at most ${length} characters`));
          change.statements.push(`ALTER TABLE ${table} ALTER COLUMN ${sqlId(column)} TYPE ${f.sqlType};`);
          change.summary.push(`${e.table} ${column} max length ${length}`);
        } else if (options.allowDestructive) {
          // Values the cast cannot convert make the migration fail and roll back whole.
          destroy(`ALTER TABLE ${table} ALTER COLUMN ${sqlId(column)} TYPE ${f.sqlType} USING ${sqlId(column)}::${f.sqlType};`, `${e.table} retype ${column}`);
        } else {
          refuse(
            e.name,
            f.key,
            `the type changed in a way that can lose data (${former.sqlType} → ${f.sqlType})`,
            `Only widenings are migrated as they are (Integer → BigInt, a longer or unbounded String, Integer → Decimal, a wider Decimal): add a new field of the new type, or convert the column with \`${DESTRUCTIVE}\` (values that do not convert make the migration fail).`,
          );
        }
      }
      if (former.nullable && !f.nullable) {
        if (!options.allowDestructive) {
          refuse(
            e.name,
            f.key,
            "the field changed from nullable to required",
            `Stored rows may hold NULL and older senders may leave it empty: keep it nullable, add a new required field with a default, or make it required with \`${DESTRUCTIVE}\` (the migration fails if a row holds NULL).`,
          );
        }
        change.statements.push(failIfRowsViolate(e.table, column, `${sqlId(column)} IS NOT NULL`, "required"));
        destroy(`ALTER TABLE ${table} ALTER COLUMN ${sqlId(column)} SET NOT NULL;`, `${e.table} ${column} required`);
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
        // minimum, maximum, minLength, enum: drop the column's checks and add the new ones. A rule that
        // is new (a tightening) is first checked against the stored rows, so a violation fails cleanly.
        const added = f.checks.filter((c) => !formerChecks.includes(c));
        if (added.length > 0) change.statements.push(failIfRowsViolate(e.table, column, added.join(" AND "), added.join(" AND ")));
        if (formerChecks.length > 0) change.statements.push(dropChecks(e.table, column));
        for (const check of f.checks) change.statements.push(`ALTER TABLE ${table} ADD CHECK (${check});`);
        change.summary.push(`${e.table} ${column} checks`);
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

    // The wire after the change: the old positions (a field, or reserved for a dropped one), then the new fields.
    const fields = old.fields.map((o) => (o.dropped ? o : (matched.find((m) => m.former === o)?.f ?? { ...o, dropped: true as const })));
    change.after.push({ ...e, fields: [...fields, ...matched.filter((m) => !m.former).map((m) => m.f)] });
  }
  return change;
}
