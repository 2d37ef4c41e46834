/**
 * Fault injection for the HTTP emulators: throttling (429), server errors (5xx) and latency, so
 * tests can prove that providers retry, back off and fail clearly. An emulator asks `take()` before
 * handling each request and hands whatever it gets to `respondWithFault()`.
 */
import type { ServerResponse } from 'node:http';

export interface FaultRequest {
  method: string;
  /** Path without the query string. */
  path: string;
}

export interface FaultRule {
  /** Which requests the rule applies to; every request when absent. */
  match?: (req: FaultRequest) => boolean;
  /** Answer with this status instead of handling the request; absent means "only delay". */
  status?: number;
  /** Reply body: strings are sent as they are, anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Wait this long before answering (or before handling, when there is no status). */
  delayMs?: number;
  /** How many matching requests the rule applies to: default 1, Infinity allowed. */
  times?: number;
}

export interface Fault {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  delayMs?: number;
}

interface ActiveRule {
  rule: FaultRule;
  remaining: number;
}

export class FaultInjector {
  #rules: ActiveRule[] = [];
  #injected = 0;

  /** Adds a rule; rules are tried in the order they were added. */
  add(rule: FaultRule): this {
    const times = rule.times ?? 1;
    if (!(times > 0)) throw new Error(`fault rule times must be positive, got ${times}`);
    this.#rules.push({ rule, remaining: times });
    return this;
  }

  clear(): void {
    this.#rules = [];
  }

  /** How many faults were handed out since the injector was made. */
  get injected(): number {
    return this.#injected;
  }

  /** Rules that still have uses left. */
  get pending(): number {
    return this.#rules.length;
  }

  /** The fault for this request, if a rule matches; uses one of that rule's `times`. */
  take(req: FaultRequest): Fault | undefined {
    const active = this.#rules.find(({ rule }) => !rule.match || rule.match(req));
    if (!active) return undefined;
    active.remaining -= 1;
    if (active.remaining <= 0) this.#rules = this.#rules.filter((r) => r !== active);
    this.#injected += 1;
    const { status, body, headers, delayMs } = active.rule;
    return { status, body, headers, delayMs };
  }
}

/**
 * Applies a fault: waits its delay, then answers with its status if it has one.
 * Returns true when the response was sent (the emulator must not handle the request).
 */
export async function respondWithFault(res: ServerResponse, fault: Fault | undefined): Promise<boolean> {
  if (!fault) return false;
  if (fault.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
  if (fault.status === undefined) return false;
  const isText = typeof fault.body === 'string';
  const payload = fault.body === undefined ? '' : isText ? (fault.body as string) : JSON.stringify(fault.body);
  const headers: Record<string, string> = {};
  if (payload) headers['content-type'] = isText ? 'text/plain' : 'application/json';
  res.writeHead(fault.status, { ...headers, ...fault.headers });
  res.end(payload);
  return true;
}
