/**
 * What one PATCH operation names: its op, and the attribute (of the core schema or an extension),
 * sub-attribute and value filter its path resolves to.
 */
import { parsePatchPath, type Filter } from '../filter';
import { type Attribute, coreAttribute, extensionFor, type ResourceType, type Schema, subAttribute } from '../schema';

export type Op = 'add' | 'replace' | 'remove';

export interface Target {
  ext?: Schema;
  attribute: Attribute;
  sub?: Attribute;
  filter?: Filter;
  /** The path as the client wrote it, for error details. */
  label: string;
}

/** Resolves an operation's `path` against the resource type. */
export function resolveTarget(path: string, type: ResourceType): Target {
  const p = parsePatchPath(path, type);
  const ext = p.extension ? extensionFor(type, p.extension) : undefined;
  // parsePatchPath resolved the names against the schema, so these lookups cannot miss.
  const attribute = ext ? ext.attributes.find((a) => a.name === p.attribute)! : coreAttribute(type, p.attribute)!;
  const sub = p.sub !== undefined ? subAttribute(attribute, p.sub) : undefined;
  return { ext, attribute, sub, filter: p.filter, label: path };
}
