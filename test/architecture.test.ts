/**
 * The import graph of the product, as docs/ARCHITECTURE.md draws it: no import circles between
 * product files, no runtime arrow from a lower layer up to a higher one, workflow code importing
 * only what Temporal's deterministic bundle may hold, and no product file importing test code.
 * Type-only imports are left out of the layer rule (they vanish at compile time: workflows name
 * their activities' types, which is how Temporal's SDK is meant to be used), not out of the circles.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '..');

/** Lower first. A runtime import may point to its own layer or a lower one. */
const LAYERS: Record<string, number> = {
  lib: 0,
  config: 1,
  providers: 1,
  store: 2,
  workflows: 3,
  activities: 4,
  audit: 5,
  daemon: 6,
  console: 6,
  cli: 7,
  dev: 8,
};

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

function productFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(repo, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
    }
  };
  for (const folder of Object.keys(LAYERS)) {
    try {
      walk(folder);
    } catch {
      // a layer without a folder (yet)
    }
  }
  return out.sort();
}

function importsOf(file: string): Import[] {
  const source = ts.createSourceFile(file, readFileSync(join(repo, file), 'utf8'), ts.ScriptTarget.Latest, false);
  const out: Import[] = [];
  for (const statement of source.statements) {
    let specifier: ts.Expression | undefined;
    let typeOnly = false;
    if (ts.isImportDeclaration(statement)) {
      specifier = statement.moduleSpecifier;
      const clause = statement.importClause;
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings.elements : undefined;
      typeOnly = clause !== undefined && (clause.isTypeOnly || (!clause.name && named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly)));
    } else if (ts.isExportDeclaration(statement) && statement.moduleSpecifier) {
      specifier = statement.moduleSpecifier;
      const named = statement.exportClause && ts.isNamedExports(statement.exportClause) ? statement.exportClause.elements : undefined;
      typeOnly = statement.isTypeOnly || (named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly));
    }
    if (!specifier || !ts.isStringLiteral(specifier) || !specifier.text.startsWith('.')) continue;
    const to = normalize(join(dirname(file), specifier.text)).replace(/\.js$/, '.ts');
    out.push({ from: file, to, typeOnly });
  }
  return out;
}

const files = productFiles();
const imports = files.flatMap(importsOf);
const layerOf = (file: string) => LAYERS[file.split('/')[0]!];

/** Strongly connected components of more than one file (Tarjan). */
function circles(edges: Import[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let counter = 0;
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const file of files) if (!index.has(file)) visit(file);
  return found;
}

describe('the import graph', () => {
  it('reads the product (a sanity check of the parser: it finds the protocol and its imports)', () => {
    expect(files).toContain('workflows/protocol.ts');
    expect(imports.filter((i) => i.from === 'workflows/protocol.ts').length).toBeGreaterThan(3);
    expect(imports.some((i) => i.typeOnly)).toBe(true);
  });

  it('has no import circles between product files', () => {
    expect(circles(imports.filter((i) => !i.typeOnly))).toEqual([]);
  });

  it('has no runtime arrow from a lower layer up to a higher one', () => {
    const upward = imports
      .filter((i) => !i.typeOnly && layerOf(i.to) !== undefined && layerOf(i.to)! > layerOf(i.from)!)
      .map((i) => `${i.from} -> ${i.to}`);
    expect(upward).toEqual([]);
  });

  it('workflow code imports only workflow code and lib/ at run time (the deterministic bundle)', () => {
    const outside = imports.filter((i) => i.from.startsWith('workflows/') && !i.typeOnly && !/^(workflows|lib)\//.test(i.to)).map((i) => `${i.from} -> ${i.to}`);
    expect(outside).toEqual([]);
  });

  it('no product file imports test or bench code', () => {
    const intoTests = imports.filter((i) => /^(test|bench)\//.test(relative('.', i.to))).map((i) => `${i.from} -> ${i.to}`);
    expect(intoTests).toEqual([]);
  });
});
