/**
 * The server's clock: wall time plus an offset, with an ordered set of timers. Timers fire in real
 * time; with time skipping on, the clock also jumps straight to the next timer whenever skipping is
 * unlocked and the server is idle (the same rule as Temporal's time-skipping test server).
 */

export interface ClockTimer {
  readonly dueAt: number;
  cancel(): void;
}

interface Entry {
  dueAt: number;
  seq: number;
  label: string;
  fire: () => void;
  cancelled: boolean;
}

/** Longest real setTimeout we arm at once; we simply re-arm after it. */
const MAX_REAL_DELAY_MS = 60_000;

export class VirtualClock {
  private offset: number;
  private timers: Entry[] = [];
  private seq = 0;
  private realTimer: NodeJS.Timeout | undefined;
  /** Like Java's lock count: skipping is allowed when locks minus waiting result-readers is ≤ 0. */
  private locks = 1;
  private resultWaiters = 0;
  private skipCheckQueued = false;
  private closed = false;

  constructor(
    private readonly timeSkipping: boolean,
    startTime: number | undefined,
    /** True when no workflow or activity task is scheduled or running anywhere. */
    private readonly isIdle: () => boolean,
  ) {
    this.offset = startTime === undefined ? 0 : startTime - Date.now();
  }

  now(): number {
    return Date.now() + this.offset;
  }

  /** Runs `fire` when the clock reaches `dueAt` (at once on the next check if already past). */
  at(dueAt: number, label: string, fire: () => void): ClockTimer {
    const entry: Entry = { dueAt, seq: this.seq++, label, fire, cancelled: false };
    const index = this.timers.findIndex((t) => t.dueAt > dueAt);
    if (index === -1) this.timers.push(entry);
    else this.timers.splice(index, 0, entry);
    this.arm();
    this.poke();
    return {
      dueAt,
      cancel: () => {
        if (entry.cancelled) return;
        entry.cancelled = true;
        this.timers = this.timers.filter((t) => t !== entry);
        this.arm();
      },
    };
  }

  after(delayMs: number, label: string, fire: () => void): ClockTimer {
    return this.at(this.now() + Math.max(0, delayMs), label, fire);
  }

  lock(): void {
    this.locks++;
  }

  unlock(): void {
    if (this.locks === 0) throw new Error('unlockTimeSkipping called more often than lockTimeSkipping');
    this.locks--;
    this.poke();
  }

  /** A client started waiting for a workflow result: that alone unlocks skipping while it waits. */
  beginResultWait(): () => void {
    this.resultWaiters++;
    this.poke();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.resultWaiters--;
    };
  }

  /** Something changed (task finished, timer added...): check soon whether time may jump. */
  poke(): void {
    if (!this.timeSkipping || this.skipCheckQueued || this.closed) return;
    this.skipCheckQueued = true;
    setImmediate(() => {
      this.skipCheckQueued = false;
      this.maybeSkip();
    });
  }

  /** Moves the clock forward by `ms`, firing every timer due on the way, each at its own time. */
  async advance(ms: number): Promise<void> {
    const target = this.now() + ms;
    while (!this.closed && this.timers.length && this.timers[0].dueAt <= target) {
      this.jumpTo(this.timers[0].dueAt);
      this.fireDue();
      // Let gRPC callbacks and promise chains run between firings.
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.jumpTo(target);
    this.fireDue();
    this.arm();
  }

  close(): void {
    this.closed = true;
    if (this.realTimer) clearTimeout(this.realTimer);
    this.timers = [];
  }

  private maybeSkip(): void {
    if (this.closed || this.locks - this.resultWaiters > 0 || !this.timers.length || !this.isIdle()) return;
    this.jumpTo(this.timers[0].dueAt);
    this.fireDue();
    this.arm();
    this.poke();
  }

  private jumpTo(time: number): void {
    const now = this.now();
    if (time > now) this.offset += time - now;
  }

  private fireDue(): void {
    while (this.timers.length && this.timers[0].dueAt <= this.now()) {
      const entry = this.timers.shift()!;
      entry.cancelled = true;
      try {
        entry.fire();
      } catch (error) {
        console.error(`[temporal test server] timer ${entry.label} failed`, error);
      }
    }
  }

  private arm(): void {
    if (this.realTimer) clearTimeout(this.realTimer);
    this.realTimer = undefined;
    if (this.closed || !this.timers.length) return;
    const delay = Math.min(Math.max(0, this.timers[0].dueAt - this.now()), MAX_REAL_DELAY_MS);
    this.realTimer = setTimeout(() => {
      this.fireDue();
      this.arm();
      this.poke();
    }, delay);
    this.realTimer.unref();
  }
}
