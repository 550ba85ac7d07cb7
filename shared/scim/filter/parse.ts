/**
 * The SCIM filter and PATCH path parser: a small recursive descent over the text, resolving
 * attribute names against the schema (canonical case in the result).
 *
 * Filters come from the network (Entra's provisioning service, but also anyone holding the token),
 * so the parser is written to fail closed: the text length, the nesting depth and the number of
 * nodes are bounded before any recursion can grow, every error is a `400 invalidFilter` whose
 * detail quotes at most 50 characters of the input, and values are only ever JSON literals
 * compared in memory — nothing here builds a query string, so `userName eq "a' or 1 eq '1"` is
 * just a user name with quotes in it.
 */
import { badRequest, type ScimType } from '../errors';
import { type Attribute, resolvePath, type ResourceType, subAttribute } from '../schema';
import {
  type AttrPath,
  COMPARE_OPS,
  type CompareOp,
  type Filter,
  type FilterValue,
  ORDERING_OPS,
  type PatchPath,
  SUBSTRING_OPS,
} from './tree';

export const FILTER_LIMITS = {
  /** Characters of filter text; Entra's filters are well under 300. */
  maxLength: 4096,
  /** Nesting of parentheses, `not` and value-path brackets. */
  maxDepth: 20,
  /** Nodes of the parsed tree (comparisons, and/or/not, value paths). */
  maxNodes: 100,
} as const;

/** Characters of an attribute path: ATTRNAME chars, `$` of `$ref`, `.` between sub-attributes, `:` of URNs. */
const isWordChar = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_$.:-]/.test(c);
const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** At most ~50 characters of the input around `pos`, printable, for an error detail. */
function excerpt(text: string, pos: number): string {
  const start = Math.max(0, Math.min(pos - 20, text.length - 50));
  const end = Math.min(text.length, start + 50);
  const shown = text.slice(start, end).replace(/[^\x20-\x7e]/g, '?');
  return `"${start > 0 ? '…' : ''}${shown}${end < text.length ? '…' : ''}"`;
}

/** Where an attribute name is looked up: the resource type, or the sub-attributes of a bracketed attribute. */
type Scope = { type: ResourceType; parent?: undefined } | { type: ResourceType; parent: Attribute };

class Parser {
  private pos = 0;
  private depth = 0;
  private nodes = 0;

  constructor(
    private readonly text: string,
    private readonly type: ResourceType,
    private readonly scimType: ScimType,
    private readonly what: string,
  ) {
    if (text.length > FILTER_LIMITS.maxLength) {
      throw badRequest(scimType, `The ${what} is ${text.length} characters long; at most ${FILTER_LIMITS.maxLength} are accepted.`);
    }
  }

  fail(message: string, pos = this.pos): never {
    throw badRequest(this.scimType, `Invalid ${this.what}: ${message} at character ${pos + 1} of ${excerpt(this.text, pos)}.`);
  }

  private node<T extends Filter>(f: T): T {
    if (++this.nodes > FILTER_LIMITS.maxNodes) this.fail(`more than ${FILTER_LIMITS.maxNodes} expressions`);
    return f;
  }

  private enter(): void {
    if (++this.depth > FILTER_LIMITS.maxDepth) this.fail(`nested more than ${FILTER_LIMITS.maxDepth} levels deep`);
  }

  private skipSpace(): void {
    while (isSpace(this.text[this.pos])) this.pos++;
  }

  private atEnd(): boolean {
    this.skipSpace();
    return this.pos >= this.text.length;
  }

  /** The word at the cursor (after spaces), without consuming it. */
  private peekWord(): string {
    this.skipSpace();
    let end = this.pos;
    while (isWordChar(this.text[end])) end++;
    return this.text.slice(this.pos, end);
  }

  private takeWord(): string {
    const w = this.peekWord();
    this.pos += w.length;
    return w;
  }

  /** filter = orExpr EOF */
  parseFilter(): Filter {
    if (this.atEnd()) this.fail('the filter is empty');
    const f = this.parseOr({ type: this.type });
    if (!this.atEnd()) this.fail('unexpected text after the end of the filter (missing "and"/"or", or an extra ")"?)');
    return f;
  }

  /** PATH = attrPath / valuePath [subAttr] (RFC 7644 §3.5.2). */
  parsePatchPath(): PatchPath {
    if (this.atEnd()) this.fail('the path is empty');
    const start = this.pos;
    const word = this.takeWord();
    if (!word) this.fail('expected an attribute name');
    const { path, attribute } = this.resolve(word, { type: this.type }, start);
    let result: PatchPath = { ...path };
    if (this.text[this.pos] === '[') {
      if (path.sub) this.fail('a value filter "[...]" must follow the attribute, not a sub-attribute', start);
      const filter = this.parseBracket(attribute, start);
      result = { ...path, filter };
      if (this.text[this.pos] === '.') {
        this.pos++;
        const subStart = this.pos;
        const subName = this.takeWordNoSpace();
        const sub = subAttribute(attribute, subName);
        if (!sub) this.fail(`unknown sub-attribute "${subName}" of "${attribute.name}"`, subStart);
        result.sub = sub.name;
      }
    }
    if (!this.atEnd()) this.fail('unexpected text after the path');
    return result;
  }

  private takeWordNoSpace(): string {
    let end = this.pos;
    while (isWordChar(this.text[end])) end++;
    const w = this.text.slice(this.pos, end);
    this.pos = end;
    return w;
  }

  private parseOr(scope: Scope): Filter {
    let left = this.parseAnd(scope);
    while (this.peekKeyword('or')) {
      this.takeWord();
      left = this.node({ kind: 'or', left, right: this.parseAnd(scope) });
    }
    return left;
  }

  /** "and" binds tighter than "or" (RFC 7644 §3.4.2.2, Table 3's precedence). */
  private parseAnd(scope: Scope): Filter {
    let left = this.parseUnary(scope);
    while (this.peekKeyword('and')) {
      this.takeWord();
      left = this.node({ kind: 'and', left, right: this.parseUnary(scope) });
    }
    return left;
  }

  private peekKeyword(k: string): boolean {
    return this.peekWord().toLowerCase() === k;
  }

  private parseUnary(scope: Scope): Filter {
    this.skipSpace();
    if (this.pos >= this.text.length) this.fail('the filter ends where an expression was expected');
    const c = this.text[this.pos];
    if (c === '(') return this.parseParenthesised(scope);
    if (this.peekKeyword('not')) {
      const at = this.pos;
      this.takeWord();
      this.skipSpace();
      // ABNF: *1"not" "(" valFilter ")" — `not` only ever applies to a parenthesised filter.
      if (this.text[this.pos] !== '(') this.fail('"not" must be followed by a filter in parentheses, as in not (title pr)', at);
      this.enter();
      const inner = this.parseParenthesised(scope);
      this.depth--;
      return this.node({ kind: 'not', filter: inner });
    }
    return this.parseAttrExp(scope);
  }

  private parseParenthesised(scope: Scope): Filter {
    const open = this.pos;
    this.pos++; // '('
    this.enter();
    const f = this.parseOr(scope);
    this.skipSpace();
    if (this.text[this.pos] !== ')')
      this.fail(this.pos >= this.text.length ? 'a "(" is never closed' : 'expected ")"', this.pos >= this.text.length ? open : this.pos);
    this.pos++;
    this.depth--;
    return f;
  }

  /** Resolves an attribute path at the top level or, inside brackets, against the bracketed attribute's sub-attributes. */
  private resolve(word: string, scope: Scope, at: number): { path: AttrPath; attribute: Attribute; sub?: Attribute } {
    if (scope.parent) {
      // Inside `emails[...]`, names are sub-attributes of emails; `emails.type` is accepted too.
      let name = word;
      const prefix = scope.parent.name.toLowerCase() + '.';
      if (name.toLowerCase().startsWith(prefix)) name = name.slice(prefix.length);
      const sub = subAttribute(scope.parent, name);
      if (!sub) this.fail(`unknown sub-attribute "${clip(word)}" of "${scope.parent.name}"`, at);
      return { path: { attribute: sub.name }, attribute: sub };
    }
    const resolved = resolvePath(scope.type, word);
    if (!resolved) this.fail(`unknown attribute "${clip(word)}" for a ${scope.type.name}`, at);
    const path: AttrPath = { attribute: resolved.attribute.name };
    if (resolved.extension) path.extension = resolved.extension;
    if (resolved.sub) path.sub = resolved.sub.name;
    return { path, attribute: resolved.attribute, sub: resolved.sub };
  }

  /** `[valFilter]` after a complex attribute; the cursor is on '['. */
  private parseBracket(attribute: Attribute, at: number): Filter {
    if (attribute.type !== 'complex') this.fail(`"${attribute.name}" has no sub-attributes to filter on`, at);
    const open = this.pos;
    this.pos++;
    this.enter();
    this.skipSpace();
    if (this.text[this.pos] === ']') this.fail('the value filter "[]" is empty');
    const inner = this.parseOr({ type: this.type, parent: attribute });
    this.skipSpace();
    if (this.text[this.pos] !== ']')
      this.fail(this.pos >= this.text.length ? 'a "[" is never closed' : 'expected "]"', this.pos >= this.text.length ? open : this.pos);
    this.pos++;
    this.depth--;
    return inner;
  }

  /** attrExp = attrPath SP "pr" / attrPath SP compareOp SP compValue, or a valuePath. */
  private parseAttrExp(scope: Scope): Filter {
    this.skipSpace();
    const start = this.pos;
    const word = this.takeWord();
    if (!word) this.fail(`expected an attribute name`);
    if (/^[-0-9]/.test(word) || /^(true|false|null)$/i.test(word))
      this.fail(`expected an attribute name, found the value ${clip(word)}`, start);
    const { path, attribute, sub } = this.resolve(word, scope, start);

    if (this.text[this.pos] === '[') {
      if (scope.parent) this.fail('value filters cannot be nested', this.pos);
      if (path.sub) this.fail('a value filter "[...]" must follow the attribute, not a sub-attribute', start);
      const inner = this.parseBracket(attribute, start);
      if (this.text[this.pos] !== '.') return this.node({ kind: 'valuePath', path, filter: inner });
      // Entra's dialect: `emails[type eq "work"].value eq "x"` is not in RFC 7644's ABNF (a valuePath is
      // a complete attrExp). It means "some email has type work and value x", so it is normalised to
      // the standard `emails[type eq "work" and value eq "x"]`.
      this.pos++;
      const subAt = this.pos;
      const subName = this.takeWordNoSpace();
      const subAttr = subAttribute(attribute, subName);
      if (!subAttr) this.fail(`unknown sub-attribute "${clip(subName)}" of "${attribute.name}"`, subAt);
      const tail = this.parseOperator({ attribute: subAttr.name }, attribute, subAttr, subAt);
      return this.node({ kind: 'valuePath', path, filter: this.node({ kind: 'and', left: inner, right: tail }) });
    }
    return this.parseOperator(path, attribute, sub, start);
  }

  private parseOperator(path: AttrPath, attribute: Attribute, sub: Attribute | undefined, at: number): Filter {
    if (!isSpace(this.text[this.pos]))
      this.fail('expected a space and an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after the attribute');
    this.skipSpace();
    const opAt = this.pos;
    const opWord = this.takeWord().toLowerCase();
    if (opWord === 'pr') return this.node({ kind: 'present', path });
    if (!COMPARE_OPS.has(opWord)) {
      this.fail(
        opWord
          ? `unknown operator "${clip(opWord)}" (use eq, ne, co, sw, ew, gt, ge, lt, le or pr)`
          : 'expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr)',
        opAt,
      );
    }
    const op = opWord as CompareOp;
    this.skipSpace();
    const valueAt = this.pos;
    const value = this.parseValue();
    // What the comparison is made on: the sub-attribute, or a complex attribute's `value` (RFC 7644 §3.4.2.2).
    const leaf = sub ?? (attribute.type === 'complex' ? subAttribute(attribute, 'value') : attribute);
    if (!leaf)
      this.fail(
        `"${attribute.name}" is complex: compare one of its sub-attributes (as in ${attribute.name}.${attribute.subAttributes?.[0]?.name ?? 'value'})`,
        at,
      );
    checkComparison(op, leaf, value, (m) => this.fail(m, valueAt));
    return this.node({ kind: 'compare', path, op, value });
  }

  /** compValue = false / null / true / number / string (JSON literals, RFC 7159). */
  private parseValue(): FilterValue {
    const c = this.text[this.pos];
    if (c === '"') return this.parseString();
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (m && !isWordChar(this.text[this.pos + m[0].length])) {
      this.pos += m[0].length;
      return Number(m[0]);
    }
    const at = this.pos;
    const w = this.takeWord();
    const lower = w.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
    if (lower === 'null') return null;
    if (c === "'") this.fail('strings are written in double quotes', at);
    return this.fail(
      w
        ? `expected a value ("a string", a number, true, false or null), found ${clip(w)}`
        : 'expected a value ("a string", a number, true, false or null)',
      at,
    );
  }

  private parseString(): string {
    const open = this.pos;
    this.pos++;
    let out = '';
    for (;;) {
      const i = this.pos;
      if (i >= this.text.length) this.fail('a string is never closed (missing ")', open);
      const c = this.text[i];
      if (c === '"') {
        this.pos++;
        return out;
      }
      if (c === '\\') {
        const e = this.text[i + 1];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e !== undefined && Object.prototype.hasOwnProperty.call(simple, e)) {
          out += simple[e];
          this.pos += 2;
        } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(this.text.slice(i + 2, i + 6))) {
          out += String.fromCharCode(parseInt(this.text.slice(i + 2, i + 6), 16));
          this.pos += 6;
        } else {
          this.fail('invalid escape in a string (use \\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX)', i);
        }
        continue;
      }
      out += c;
      this.pos++;
    }
  }
}

const clip = (s: string): string => (s.length > 40 ? s.slice(0, 40) + '…' : s).replace(/[^\x20-\x7e]/g, '?');

/** Rejects comparisons that can never be meaningful, at parse time, so the client learns why (RFC 7644 §3.4.2.2). */
function checkComparison(op: CompareOp, leaf: Attribute, value: FilterValue, fail: (m: string) => never): void {
  const name = leaf.name;
  if (leaf.type === 'complex') fail(`"${name}" is complex: compare one of its sub-attributes`);
  if (ORDERING_OPS.has(op)) {
    if (leaf.type === 'boolean') fail(`"${op}" cannot be used on the boolean "${name}"`);
    if (typeof value !== 'string' && typeof value !== 'number') fail(`"${op}" needs a string, number or date value`);
  }
  if (SUBSTRING_OPS.has(op)) {
    if (leaf.type === 'boolean') fail(`"${op}" cannot be used on the boolean "${name}"`);
    if (typeof value !== 'string') fail(`"${op}" needs a string value`);
  }
  if (leaf.type === 'dateTime' && !SUBSTRING_OPS.has(op) && typeof value === 'string' && Number.isNaN(Date.parse(value))) {
    fail(`"${name}" is a date and time: give an ISO 8601 value such as "2024-01-31T12:00:00Z"`);
  }
}

/**
 * Parses a filter (RFC 7644 §3.4.2.2) and resolves its attribute names against `type` (canonical
 * case in the result). Throws `400 invalidFilter` for anything malformed, unknown or over a limit.
 */
export function parseFilter(text: string, type: ResourceType): Filter {
  if (typeof text !== 'string') throw badRequest('invalidFilter', 'The filter must be a string.');
  return new Parser(text, type, 'invalidFilter', 'filter').parseFilter();
}

/**
 * Parses a PATCH operation's `path` (RFC 7644 §3.5.2): `attr`, `attr.sub`, `urn:...:attr[.sub]`,
 * `attr[filter]` or `attr[filter].sub`. Throws `400 invalidPath` for anything malformed or unknown.
 */
export function parsePatchPath(text: string, type: ResourceType): PatchPath {
  return new Parser(text, type, 'invalidPath', 'path').parsePatchPath();
}
