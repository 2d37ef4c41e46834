/**
 * "Did you mean": the known key nearest to a misspelt one. A hand-written edit distance (a dozen
 * lines) rather than a dependency: the key lists are short and known.
 */
import type { z } from 'zod';

/** Optimal string alignment distance, case-insensitive: insertions, deletions, substitutions, swaps. */
function distance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate closest to `word`, when it is close enough to be a typo of it. */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  if (word.length > 64) return undefined;
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const dist = distance(word, c);
    if (dist < bestDistance) [best, bestDistance] = [c, dist];
  }
  return best;
}

interface ZodInternals {
  _zod: { def: { type: string; shape?: Record<string, z.ZodType>; innerType?: z.ZodType; in?: z.ZodType; element?: z.ZodType; options?: z.ZodType[] } };
}

/** The keys an object schema knows at `path` inside `schema` (through defaults, optionals, arrays). */
export function knownKeys(schema: z.ZodType, path: PropertyKey[]): string[] {
  let node: ZodInternals | undefined = schema as unknown as ZodInternals;
  const unwrap = () => {
    while (node && ['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'pipe'].includes(node._zod.def.type)) {
      const def = node._zod.def;
      node = (def.innerType ?? def.in) as unknown as ZodInternals | undefined;
    }
  };
  for (const key of path) {
    unwrap();
    if (!node) return [];
    const def: ZodInternals['_zod']['def'] = node._zod.def;
    if (typeof key === 'number' && def.type === 'array') node = def.element as unknown as ZodInternals;
    else if (typeof key === 'string' && def.type === 'object') node = def.shape?.[key] as unknown as ZodInternals | undefined;
    else return [];
  }
  unwrap();
  return node?._zod.def.type === 'object' ? Object.keys(node._zod.def.shape ?? {}) : [];
}
