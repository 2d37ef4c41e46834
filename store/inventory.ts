/**
 * The console's inventory list (view `inventory_items`, migration 010): filtered, searched, sorted
 * and paged by keyset (the last row's sort key and subject), so page 2,000 costs what page 1 does.
 */
import type { RotorStore } from './index.js';

export const INVENTORY_STATUSES = ['managed', 'manual', 'retired', 'discovered'] as const;
export type InventoryStatus = (typeof INVENTORY_STATUSES)[number];

/** Sortable columns: each maps to a never-NULL key of the view with an index (migration 010). */
const SORT_KEYS = {
  id: { column: 'subject', cast: 'text' },
  type: { column: 'type', cast: 'text' },
  owner: { column: 'owner_key', cast: 'text' },
  status: { column: 'status', cast: 'text' },
  environment: { column: 'environment_key', cast: 'text' },
  nextDue: { column: 'next_due_key', cast: 'timestamptz' },
  lastRotated: { column: 'last_rotated_key', cast: 'timestamptz' },
} as const;
export type InventorySort = keyof typeof SORT_KEYS;
export const INVENTORY_SORTS = Object.keys(SORT_KEYS) as InventorySort[];

export interface InventoryQuery {
  owner?: string;
  type?: string;
  environment?: string;
  status?: InventoryStatus;
  /** Only these subjects (e.g. those with a finding at or above a severity). */
  subjects?: string[];
  /** Case-insensitive text in the id, owner, purpose or material id. */
  search?: string;
  sort?: InventorySort;
  descending?: boolean;
  /** The cursor of the previous page's last row. */
  after?: string;
  limit?: number;
}

export interface InventoryItem {
  subject: string;
  status: InventoryStatus | 'unmanaged';
  type: string;
  owner: string | null;
  purpose: string | null;
  environment: string | null;
  materialId: string | null;
  lastRotatedAt: Date | null;
  nextDueAt: Date | null;
  /** A discovered credential's state in its system (active, inactive, expired). */
  state: string | null;
}

export interface InventoryPage {
  items: InventoryItem[];
  /** The cursor of the next page, when there is one. */
  next?: string;
  /** Rows matching the filters, all pages. */
  total: number;
}

export const MAX_PAGE = 200;

/** A cursor is opaque to the browser: base64url of [sort key as text, subject]. */
function encodeCursor(key: string, subject: string): string {
  return Buffer.from(JSON.stringify([key, subject])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] | undefined {
  if (cursor.length > 2048) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'string')) return value as [string, string];
  } catch {
    // not a cursor of ours: the first page
  }
  return undefined;
}

/** `%` and `_` in a search are literal characters, not patterns. */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function filters(q: InventoryQuery, params: unknown[]): string[] {
  const where: string[] = [];
  const add = (sql: (p: string) => string, value: unknown) => {
    params.push(value);
    where.push(sql(`$${params.length}`));
  };
  if (q.owner) add((p) => `owner_key = ${p}`, q.owner);
  if (q.type) add((p) => `type = ${p}`, q.type);
  if (q.environment) add((p) => `environment_key = ${p}`, q.environment);
  if (q.status) add((p) => `status = ${p}`, q.status);
  if (q.subjects) add((p) => `subject = ANY(${p}::text[])`, q.subjects);
  if (q.search) add((p) => `(subject ILIKE ${p} OR owner ILIKE ${p} OR purpose ILIKE ${p} OR material_id ILIKE ${p})`, likePattern(q.search));
  return where;
}

export async function listInventoryPage(store: RotorStore, q: InventoryQuery = {}): Promise<InventoryPage> {
  const sort = SORT_KEYS[q.sort ?? 'id'];
  const limit = Math.min(Math.max(1, q.limit ?? 50), MAX_PAGE);
  const direction = q.descending ? 'DESC' : 'ASC';
  const params: unknown[] = [];
  const where = filters(q, params);
  const countSql = `SELECT count(*)::int AS n FROM inventory_items${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
  const countParams = [...params];
  const cursor = q.after ? decodeCursor(q.after) : undefined;
  if (cursor) {
    params.push(cursor[0], cursor[1]);
    const key = `$${params.length - 1}::${sort.cast}`;
    where.push(`(${sort.column}, subject) ${q.descending ? '<' : '>'} (${key}, $${params.length}::text)`);
  }
  params.push(limit + 1);
  const pageSql =
    `SELECT *, ${sort.column}::text AS sort_text FROM inventory_items${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ` +
    `ORDER BY ${sort.column} ${direction}, subject ${direction} LIMIT $${params.length}`;
  const [page, count] = await Promise.all([store.query(pageSql, params), store.query<{ n: number }>(countSql, countParams)]);
  const rows = page.rows.slice(0, limit);
  const last = rows.at(-1);
  return {
    items: rows.map((r) => ({
      subject: r.subject,
      status: r.status,
      type: r.type,
      owner: r.owner,
      purpose: r.purpose,
      environment: r.environment,
      materialId: r.material_id,
      lastRotatedAt: r.last_rotated_at,
      nextDueAt: r.next_due_at,
      state: r.state,
    })),
    ...(page.rows.length > limit && last ? { next: encodeCursor(last.sort_text, last.subject) } : {}),
    total: count.rows[0]?.n ?? 0,
  };
}

/** The values each filter can take, for the console's selects (at most `limit` each). */
export async function inventoryFacets(store: RotorStore, limit = 500): Promise<{ owners: string[]; types: string[]; environments: string[] }> {
  const distinct = async (column: string) =>
    (await store.query<{ v: string }>(`SELECT DISTINCT ${column} AS v FROM inventory_items WHERE ${column} <> '' ORDER BY 1 LIMIT $1`, [limit])).rows.map((r) => r.v);
  const [owners, types, environments] = await Promise.all([distinct('owner_key'), distinct('type'), distinct('environment_key')]);
  return { owners, types, environments };
}
