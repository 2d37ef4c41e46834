/**
 * A small visibility query language, enough for tests: comparisons (= != <> < <= > >=), IN / NOT IN,
 * BETWEEN, IS [NOT] NULL, STARTS_WITH, AND / OR / NOT and parentheses over the built-in fields
 * (WorkflowId, RunId, WorkflowType, ExecutionStatus, StartTime, CloseTime, ExecutionTime, TaskQueue,
 * HistoryLength) and any custom search attribute, registered or not. ORDER BY is accepted and ignored;
 * GROUP BY ExecutionStatus is reported to the caller (CountWorkflowExecutions).
 */
import { invalidArgument } from './grpc-service.js';
import { api, readJsonPayload, type Payload } from './proto.js';

/** What a query is evaluated against: one run's fields. */
export interface VisibilityRecord {
  builtins: Record<string, unknown>;
  searchAttributes: Record<string, Payload>;
}

type Value = string | number | boolean;
type Node =
  | { kind: 'and' | 'or'; left: Node; right: Node }
  | { kind: 'not'; inner: Node }
  | { kind: 'compare'; field: string; op: string; value: Value }
  | { kind: 'in'; field: string; values: Value[]; negate: boolean }
  | { kind: 'between'; field: string; low: Value; high: Value; negate: boolean }
  | { kind: 'null'; field: string; negate: boolean }
  | { kind: 'true' };

export interface ParsedQuery {
  matches(record: VisibilityRecord): boolean;
  groupBy?: string;
}

const STATUS_NAMES: Record<number, string> = {
  [api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING]: 'Running',
  [api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED]: 'Completed',
  [api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED]: 'Failed',
  [api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CANCELED]: 'Canceled',
  [api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED]: 'Terminated',
  [api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW]: 'ContinuedAsNew',
  [api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TIMED_OUT]: 'TimedOut',
};

export function statusName(status: number): string {
  return STATUS_NAMES[status] ?? 'Unspecified';
}

// ---- tokenizer ---------------------------------------------------------------------------------

type Token = { type: 'ident' | 'string' | 'number' | 'op' | 'punct'; text: string };

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      let text = '';
      while (j < input.length && input[j] !== c) {
        if (input[j] === '\\' && j + 1 < input.length) j++;
        text += input[j++];
      }
      if (j >= input.length) throw invalidArgument(`invalid query: unterminated string in ${input}`);
      tokens.push({ type: 'string', text });
      i = j + 1;
    } else if (c === '`') {
      const j = input.indexOf('`', i + 1);
      if (j < 0) throw invalidArgument(`invalid query: unterminated identifier in ${input}`);
      tokens.push({ type: 'ident', text: input.slice(i + 1, j) });
      i = j + 1;
    } else if (/[-\d]/.test(c) && /^-?\d/.test(input.slice(i))) {
      const m = /^-?\d+(\.\d+)?/.exec(input.slice(i))!;
      tokens.push({ type: 'number', text: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(input.slice(i))!;
      tokens.push({ type: 'ident', text: m[0] });
      i += m[0].length;
    } else {
      const m = /^(!=|<>|<=|>=|=|<|>)/.exec(input.slice(i));
      if (m) {
        tokens.push({ type: 'op', text: m[0] });
        i += m[0].length;
      } else if (c === '(' || c === ')' || c === ',') {
        tokens.push({ type: 'punct', text: c });
        i++;
      } else {
        throw invalidArgument(`invalid query: unexpected character '${c}' in ${input}`);
      }
    }
  }
  return tokens;
}

// ---- parser ------------------------------------------------------------------------------------

class Parser {
  private pos = 0;
  groupBy: string | undefined;

  constructor(
    private readonly tokens: Token[],
    private readonly text: string,
  ) {}

  parse(): Node {
    const node = this.atEnd() || this.isKeyword('ORDER') || this.isKeyword('GROUP') ? ({ kind: 'true' } as Node) : this.or();
    while (!this.atEnd()) {
      if (this.acceptKeyword('ORDER')) {
        this.expectKeyword('BY');
        // ORDER BY field [ASC|DESC], ...: results are always newest first here.
        while (!this.atEnd() && !this.isKeyword('GROUP')) this.pos++;
      } else if (this.acceptKeyword('GROUP')) {
        this.expectKeyword('BY');
        this.groupBy = this.ident();
      } else {
        this.fail(`unexpected '${this.peek()?.text}'`);
      }
    }
    return node;
  }

  private or(): Node {
    let node = this.and();
    while (this.acceptKeyword('OR')) node = { kind: 'or', left: node, right: this.and() };
    return node;
  }

  private and(): Node {
    let node = this.unary();
    while (this.acceptKeyword('AND')) node = { kind: 'and', left: node, right: this.unary() };
    return node;
  }

  private unary(): Node {
    if (this.acceptKeyword('NOT')) return { kind: 'not', inner: this.unary() };
    if (this.acceptPunct('(')) {
      const node = this.or();
      this.expectPunct(')');
      return node;
    }
    return this.comparison();
  }

  private comparison(): Node {
    const field = this.ident();
    if (this.acceptKeyword('IS')) {
      const negate = this.acceptKeyword('NOT');
      this.expectKeyword('NULL');
      return { kind: 'null', field, negate };
    }
    const negate = this.acceptKeyword('NOT');
    if (this.acceptKeyword('IN')) {
      this.expectPunct('(');
      const values = [this.value()];
      while (this.acceptPunct(',')) values.push(this.value());
      this.expectPunct(')');
      return { kind: 'in', field, values, negate };
    }
    if (this.acceptKeyword('BETWEEN')) {
      const low = this.value();
      this.expectKeyword('AND');
      return { kind: 'between', field, low, high: this.value(), negate };
    }
    if (negate) this.fail(`expected IN or BETWEEN after NOT`);
    if (this.acceptKeyword('STARTS_WITH')) return { kind: 'compare', field, op: 'starts_with', value: this.value() };
    const op = this.peek();
    if (op?.type !== 'op') this.fail(`expected an operator after ${field}`);
    this.pos++;
    return { kind: 'compare', field, op: op!.text === '<>' ? '!=' : op!.text, value: this.value() };
  }

  private value(): Value {
    const token = this.peek();
    if (!token) this.fail('expected a value');
    this.pos++;
    if (token!.type === 'string') return token!.text;
    if (token!.type === 'number') return Number(token!.text);
    if (token!.type === 'ident' && /^(true|false)$/i.test(token!.text)) return token!.text.toLowerCase() === 'true';
    return this.fail(`expected a value, got '${token!.text}'`);
  }

  private ident(): string {
    const token = this.peek();
    if (token?.type !== 'ident') this.fail(`expected a field name, got '${token?.text ?? 'end of query'}'`);
    this.pos++;
    return token!.text;
  }

  private peek(): Token | undefined {
    return this.tokens[this.pos];
  }
  private atEnd(): boolean {
    return this.pos >= this.tokens.length;
  }
  private isKeyword(word: string): boolean {
    const token = this.peek();
    return token?.type === 'ident' && token.text.toUpperCase() === word;
  }
  private acceptKeyword(word: string): boolean {
    if (!this.isKeyword(word)) return false;
    this.pos++;
    return true;
  }
  private expectKeyword(word: string): void {
    if (!this.acceptKeyword(word)) this.fail(`expected ${word}`);
  }
  private acceptPunct(p: string): boolean {
    const token = this.peek();
    if (token?.type !== 'punct' || token.text !== p) return false;
    this.pos++;
    return true;
  }
  private expectPunct(p: string): void {
    if (!this.acceptPunct(p)) this.fail(`expected '${p}'`);
  }
  private fail(message: string): never {
    throw invalidArgument(`invalid query "${this.text}": ${message}`);
  }
}

// ---- evaluation --------------------------------------------------------------------------------

const TIME_FIELDS = new Set(['StartTime', 'CloseTime', 'ExecutionTime']);
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T/;

function fieldValue(record: VisibilityRecord, field: string): unknown {
  if (field in record.builtins) return record.builtins[field];
  const payload = record.searchAttributes[field];
  return payload ? readJsonPayload(payload) : undefined;
}

/** Orders two values, comparing times as times; undefined when not comparable. */
function compareValues(field: string, actual: unknown, expected: Value): number | undefined {
  if (actual === undefined || actual === null) return undefined;
  if (TIME_FIELDS.has(field) || (typeof actual === 'string' && typeof expected === 'string' && ISO_DATE.test(actual) && ISO_DATE.test(expected))) {
    const a = typeof actual === 'number' ? actual : Date.parse(String(actual));
    // Numbers in time comparisons are Unix nanoseconds, as the real server accepts.
    const b = typeof expected === 'number' ? expected / 1e6 : Date.parse(String(expected));
    if (Number.isNaN(a) || Number.isNaN(b)) return undefined;
    return a - b;
  }
  if (typeof actual === 'number' && typeof expected === 'number') return actual - expected;
  if (typeof actual === 'boolean') return actual === expected ? 0 : 1;
  const a = String(actual);
  const b = String(expected);
  return a === b ? 0 : a < b ? -1 : 1;
}

/** A keyword list matches when any element does. */
function anyOf(actual: unknown, test: (one: unknown) => boolean): boolean {
  return Array.isArray(actual) ? actual.some(test) : test(actual);
}

function evaluate(node: Node, record: VisibilityRecord): boolean {
  switch (node.kind) {
    case 'true':
      return true;
    case 'and':
      return evaluate(node.left, record) && evaluate(node.right, record);
    case 'or':
      return evaluate(node.left, record) || evaluate(node.right, record);
    case 'not':
      return !evaluate(node.inner, record);
    case 'null': {
      const value = fieldValue(record, node.field);
      const isNull = value === undefined || value === null;
      return node.negate ? !isNull : isNull;
    }
    case 'in': {
      const actual = fieldValue(record, node.field);
      const found = anyOf(actual, (one) => node.values.some((v) => compareValues(node.field, one, v) === 0));
      return node.negate ? !found : found;
    }
    case 'between': {
      const actual = fieldValue(record, node.field);
      const inside = anyOf(actual, (one) => {
        const low = compareValues(node.field, one, node.low);
        const high = compareValues(node.field, one, node.high);
        return low !== undefined && high !== undefined && low >= 0 && high <= 0;
      });
      return node.negate ? !inside : inside;
    }
    case 'compare': {
      const actual = fieldValue(record, node.field);
      if (node.op === '!=') return !anyOf(actual, (one) => compareValues(node.field, one, node.value) === 0);
      if (node.op === 'starts_with') return anyOf(actual, (one) => typeof one === 'string' && one.startsWith(String(node.value)));
      return anyOf(actual, (one) => {
        const c = compareValues(node.field, one, node.value);
        if (c === undefined) return false;
        switch (node.op) {
          case '=':
            return c === 0;
          case '<':
            return c < 0;
          case '<=':
            return c <= 0;
          case '>':
            return c > 0;
          default:
            return c >= 0;
        }
      });
    }
  }
}

export function parseVisibilityQuery(text: string | null | undefined): ParsedQuery {
  const parser = new Parser(tokenize(text ?? ''), text ?? '');
  const root = parser.parse();
  return { matches: (record) => evaluate(root, record), groupBy: parser.groupBy };
}
