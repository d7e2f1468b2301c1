/** The one internal model both YAML dialects are normalised into. */

export type FieldType = "string" | "integer" | "bigint" | "float" | "decimal" | "boolean" | "date" | "timestamp" | "json" | "uuid" | "string_list";

export interface Constraints {
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  enum?: string[];
  precision?: number;
  scale?: number;
}

/** How a derived entity's field gets its value from the parent record or the repeated item. */
export type Derivation = { from: "parent"; field: string } | { from: "item"; key: string } | { from: "constant"; value: string | number | boolean | null };

export interface FieldModel {
  /** Key in JSON records, as written in the YAML. */
  key: string;
  /** Column name (snake_case). */
  column: string;
  type: FieldType;
  nullable: boolean;
  doc?: string;
  constraints: Constraints;
  derivation?: Derivation;
  /** The value a missing field takes (as text, the way a pipe line would carry it); the column gets the same DEFAULT. */
  default?: string;
  /** The field's former name: the next migration renames the column instead of refusing a removal. */
  renamedFrom?: string;
}

export interface EntityModel {
  name: string;
  prefix: string;
  kind: "root" | "derived" | "reference";
  doc?: string;
  file: string;
  table: string;
  idColumn: string;
  idType: "integer" | "bigint";
  /** Persisted scalar fields in YAML order: also the pipe-delimited wire order, around the reserved positions. */
  fields: FieldModel[];
  /** Wire positions (1-based) of fields dropped by an earlier migration: a value sent there is ignored. */
  reserved?: { position: number; key: string }[];
  /** List[Object] fields: not columns, not on the wire; a derived entity may repeat over one. */
  listFields: { key: string; nullable: boolean; doc?: string }[];
  naturalKey: string[];
  /** Declared without a natural key on purpose: a retried request inserts its rows again. */
  allowDuplicates?: true;
  indexes: string[][];
  repeatedFor?: { entity: string; field: string; itemName: string };
}

export class EntityError extends Error {}
