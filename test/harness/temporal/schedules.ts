/**
 * Schedules: each one is a timer on the virtual clock for its next action time. An action starts the
 * workflow as the real server does (id `<workflowId>-<RFC3339 nominal time>`, search attributes
 * TemporalScheduledById / TemporalScheduledStartTime), subject to the overlap policy, pause state and
 * remaining actions. Also the Create/Describe/Update/Patch/Delete/List RPCs.
 */
import type { ClockTimer } from './clock.js';
import type { Engine } from './engine.js';
import { workflowTaskTimeoutMs } from './engine.js';
import type { Execution, ExecutionRef } from './execution.js';
import { alreadyExists, invalidArgument, notFound, RpcError, type Handler } from './grpc-service.js';
import { api, durationMs, jsonPayload, timestamp, timestampMs, type Payload, type Plain, type temporal } from './proto.js';
import { CompiledSpec, normalizeSpec } from './schedule-spec.js';
import { parseVisibilityQuery } from './visibility.js';

type Schedule = Plain<temporal.api.schedule.v1.ISchedule>;
type ActionResult = Plain<temporal.api.schedule.v1.IScheduleActionResult>;
type Patch = Plain<temporal.api.schedule.v1.ISchedulePatch>;

const Overlap = api.enums.v1.ScheduleOverlapPolicy;
const Status = api.enums.v1.WorkflowExecutionStatus;
/** Recent actions kept and future action times reported, as on the real server. */
const RECENT_ACTIONS = 10;
const FUTURE_TIMES = 10;

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

class ScheduleRecord {
  schedule!: Schedule;
  spec!: CompiledSpec;
  readonly createTime: number;
  updateTime: number;
  conflictToken = 1;
  actionCount = 0;
  overlapSkipped = 0;
  bufferDropped = 0;
  /** Nominal times waiting for a running workflow to close (BUFFER_ONE / BUFFER_ALL / CANCEL_OTHER). */
  buffer: number[] = [];
  running: ExecutionRef[] = [];
  recentActions: ActionResult[] = [];
  /** Nominal times up to here are done; the next action is the first spec time after it. */
  processedUntil: number;
  private timer: ClockTimer | undefined;

  constructor(
    private readonly engine: Engine,
    readonly namespace: string,
    readonly id: string,
    schedule: Schedule,
    public memo: Record<string, Payload>,
    public searchAttributes: Record<string, Payload>,
  ) {
    this.createTime = this.updateTime = this.processedUntil = engine.clock.now();
    this.setSchedule(schedule);
  }

  setSchedule(schedule: Schedule): void {
    if (!schedule.action?.startWorkflow) throw invalidArgument('schedule action must be startWorkflow');
    const spec = normalizeSpec(schedule.spec);
    try {
      this.spec = new CompiledSpec(spec);
    } catch (error) {
      throw invalidArgument(`invalid schedule spec: ${error instanceof Error ? error.message : String(error)}`);
    }
    this.schedule = { ...schedule, spec, state: { ...schedule.state } };
  }

  get paused(): boolean {
    return !!this.schedule.state?.paused;
  }

  get overlapPolicy(): number {
    return this.schedule.policies?.overlapPolicy || Overlap.SCHEDULE_OVERLAP_POLICY_SKIP;
  }

  /** Arms the timer for the next action (none while paused). */
  arm(): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.paused) return;
    const nominal = this.spec.next(this.processedUntil);
    if (nominal === undefined) return;
    this.timer = this.engine.clock.at(nominal + this.spec.jitter(this.id, nominal), `schedule ${this.id}`, () => {
      this.processedUntil = nominal;
      this.act(nominal, this.overlapPolicy, true);
      this.arm();
    });
  }

  disarm(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  futureTimes(count = FUTURE_TIMES): number[] {
    const times: number[] = [];
    if (this.paused) return times;
    let after = this.processedUntil;
    for (let i = 0; i < count; i++) {
      const next = this.spec.next(after);
      if (next === undefined) break;
      times.push(next + this.spec.jitter(this.id, next));
      after = next;
    }
    return times;
  }

  /** One action at a nominal time, under an overlap policy. */
  act(nominal: number, overlap: number, countsAgainstLimit: boolean): void {
    const state = this.schedule.state ?? {};
    if (countsAgainstLimit && state.limitedActions) {
      if ((state.remainingActions ?? 0) <= 0) return;
      state.remainingActions = (state.remainingActions ?? 0) - 1;
    }
    this.running = this.running.filter((r) => this.engine.runById(r.runId)?.isRunning());
    if (this.running.length && overlap !== Overlap.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL) {
      switch (overlap) {
        case Overlap.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE:
          if (this.buffer.length) this.bufferDropped++;
          this.buffer = [nominal];
          return;
        case Overlap.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL:
          this.buffer.push(nominal);
          return;
        case Overlap.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER:
          this.buffer = [nominal];
          for (const r of this.running) this.engine.runById(r.runId)?.requestCancel('cancelled by schedule overlap policy', 'schedule');
          return;
        case Overlap.SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER:
          for (const r of this.running) this.engine.runById(r.runId)?.terminate('terminated by schedule overlap policy', undefined, 'schedule');
          break;
        default:
          this.overlapSkipped++;
          return;
      }
    }
    this.startWorkflow(nominal);
  }

  private startWorkflow(nominal: number): void {
    const action = this.schedule.action!.startWorkflow!;
    const runTimeoutMs = durationMs(action.workflowRunTimeout);
    const executionTimeoutMs = durationMs(action.workflowExecutionTimeout);
    const workflowId = `${action.workflowId}-${rfc3339(nominal)}`;
    try {
      const { exec } = this.engine.startWorkflow({
        namespace: this.namespace,
        workflowId,
        workflowType: action.workflowType?.name ?? '',
        taskQueue: action.taskQueue?.name ?? '',
        input: action.input,
        header: action.header,
        executionTimeoutMs,
        runTimeoutMs,
        taskTimeoutMs: workflowTaskTimeoutMs(durationMs(action.workflowTaskTimeout), runTimeoutMs),
        expirationTime: executionTimeoutMs > 0 ? this.engine.clock.now() + executionTimeoutMs : undefined,
        memo: { ...action.memo?.fields },
        searchAttributes: {
          ...action.searchAttributes?.indexedFields,
          TemporalScheduledById: jsonPayload(this.id, 'Keyword'),
          TemporalScheduledStartTime: jsonPayload(rfc3339(nominal), 'Datetime'),
        },
        retryPolicy: action.retryPolicy,
        identity: `schedule ${this.id}`,
      });
      this.actionCount++;
      this.running.push(exec.ref);
      this.recentActions.push({
        scheduleTime: timestamp(nominal),
        actualTime: timestamp(this.engine.clock.now()),
        startWorkflowResult: { workflowId: exec.workflowId, runId: exec.runId },
        startWorkflowStatus: Status.WORKFLOW_EXECUTION_STATUS_RUNNING,
      });
      this.recentActions = this.recentActions.slice(-RECENT_ACTIONS);
    } catch (error) {
      // Same nominal second twice (e.g. two triggers): the real server also refuses the duplicate id.
      if (!(error instanceof RpcError)) throw error;
      this.overlapSkipped++;
    }
  }

  /** A workflow this schedule started closed: update its status, start a buffered action, maybe pause. */
  workflowClosed(exec: Execution): void {
    if (!this.running.some((r) => r.runId === exec.runId)) return;
    this.running = this.running.filter((r) => r.runId !== exec.runId);
    for (const action of this.recentActions) if (action.startWorkflowResult?.runId === exec.runId) action.startWorkflowStatus = exec.status;
    const failed = exec.status === Status.WORKFLOW_EXECUTION_STATUS_FAILED || exec.status === Status.WORKFLOW_EXECUTION_STATUS_TIMED_OUT;
    if (failed && this.schedule.policies?.pauseOnFailure) {
      this.schedule.state = { ...this.schedule.state, paused: true, notes: `paused after workflow ${exec.workflowId} failed` };
      this.disarm();
    }
    const next = this.buffer.shift();
    if (next !== undefined && !this.running.length) this.startWorkflow(next);
  }

  info(): Plain<temporal.api.schedule.v1.IScheduleInfo> {
    return {
      actionCount: this.actionCount,
      missedCatchupWindow: 0,
      overlapSkipped: this.overlapSkipped,
      bufferDropped: this.bufferDropped,
      bufferSize: this.buffer.length,
      runningWorkflows: this.running.map((r) => ({ workflowId: r.workflowId, runId: r.runId })),
      recentActions: this.recentActions,
      futureActionTimes: this.futureTimes().map(timestamp),
      createTime: timestamp(this.createTime),
      updateTime: timestamp(this.updateTime),
    };
  }
}

export class ScheduleStore {
  private readonly schedules = new Map<string, ScheduleRecord>();

  constructor(private readonly engine: Engine) {
    engine.onClose((exec) => {
      for (const record of this.schedules.values()) if (record.namespace === exec.namespace) record.workflowClosed(exec);
    });
  }

  private key(namespace: string, id: string): string {
    return `${namespace}\u0000${id}`;
  }

  get(namespace: string | null | undefined, id: string | null | undefined): ScheduleRecord {
    const ns = this.engine.namespace(namespace).name;
    const record = this.schedules.get(this.key(ns, id ?? ''));
    if (!record) throw notFound(`schedule "${id}" not found`);
    return record;
  }

  private applyPatch(record: ScheduleRecord, patch: Patch | null | undefined): void {
    if (!patch) return;
    const now = this.engine.clock.now();
    if (patch.pause) {
      record.schedule.state = { ...record.schedule.state, paused: true, notes: patch.pause };
      record.disarm();
    }
    if (patch.unpause) {
      record.schedule.state = { ...record.schedule.state, paused: false, notes: patch.unpause };
      // Times missed while paused are not caught up.
      record.processedUntil = Math.max(record.processedUntil, now);
      record.arm();
    }
    if (patch.triggerImmediately) {
      record.act(now, patch.triggerImmediately.overlapPolicy || record.overlapPolicy, false);
    }
    for (const backfill of patch.backfillRequest ?? []) {
      const end = timestampMs(backfill.endTime) ?? now;
      let after = (timestampMs(backfill.startTime) ?? now) - 1;
      for (let t = record.spec.next(after); t !== undefined && t <= end; t = record.spec.next(after)) {
        record.act(t, backfill.overlapPolicy || record.overlapPolicy, false);
        after = t;
      }
    }
    record.updateTime = now;
    this.engine.changed();
  }

  handlers(): Record<string, Handler> {
    const engine = this.engine;
    return {
      CreateSchedule: async (request: Plain<temporal.api.workflowservice.v1.ICreateScheduleRequest>) => {
        const ns = engine.namespace(request.namespace).name;
        if (!request.scheduleId) throw invalidArgument('ScheduleId is not set on request.');
        if (this.schedules.has(this.key(ns, request.scheduleId))) throw alreadyExists(`schedule "${request.scheduleId}" already exists`);
        const record = new ScheduleRecord(engine, ns, request.scheduleId, request.schedule ?? {}, { ...request.memo?.fields }, { ...request.searchAttributes?.indexedFields });
        this.schedules.set(this.key(ns, request.scheduleId), record);
        record.arm();
        this.applyPatch(record, request.initialPatch);
        return { conflictToken: Buffer.from(String(record.conflictToken)) };
      },

      DescribeSchedule: async (request: Plain<temporal.api.workflowservice.v1.IDescribeScheduleRequest>) => {
        const record = this.get(request.namespace, request.scheduleId);
        return {
          schedule: record.schedule,
          info: record.info(),
          memo: { fields: record.memo },
          searchAttributes: { indexedFields: record.searchAttributes },
          conflictToken: Buffer.from(String(record.conflictToken)),
        };
      },

      UpdateSchedule: async (request: Plain<temporal.api.workflowservice.v1.IUpdateScheduleRequest>) => {
        const record = this.get(request.namespace, request.scheduleId);
        record.setSchedule(request.schedule ?? {});
        if (request.searchAttributes) record.searchAttributes = { ...request.searchAttributes.indexedFields };
        record.conflictToken++;
        record.updateTime = engine.clock.now();
        // The new spec applies from now on.
        record.processedUntil = Math.max(record.processedUntil, engine.clock.now());
        record.arm();
        engine.changed();
        return {};
      },

      PatchSchedule: async (request: Plain<temporal.api.workflowservice.v1.IPatchScheduleRequest>) => {
        this.applyPatch(this.get(request.namespace, request.scheduleId), request.patch);
        return {};
      },

      DeleteSchedule: async (request: Plain<temporal.api.workflowservice.v1.IDeleteScheduleRequest>) => {
        const record = this.get(request.namespace, request.scheduleId);
        record.disarm();
        this.schedules.delete(this.key(record.namespace, record.id));
        engine.changed();
        return {};
      },

      ListScheduleMatchingTimes: async (request: Plain<temporal.api.workflowservice.v1.IListScheduleMatchingTimesRequest>) => {
        const record = this.get(request.namespace, request.scheduleId);
        const end = timestampMs(request.endTime) ?? engine.clock.now();
        const times: number[] = [];
        let after = (timestampMs(request.startTime) ?? engine.clock.now()) - 1;
        for (let t = record.spec.next(after); t !== undefined && t <= end && times.length < 1000; t = record.spec.next(after)) {
          times.push(t);
          after = t;
        }
        return { startTime: times.map(timestamp) };
      },

      ListSchedules: async (request: Plain<temporal.api.workflowservice.v1.IListSchedulesRequest>) => {
        const ns = engine.namespace(request.namespace).name;
        const query = parseVisibilityQuery(request.query);
        const all = [...this.schedules.values()]
          .filter((r) => r.namespace === ns)
          .filter((r) =>
            query.matches({
              builtins: { ScheduleId: r.id, TemporalSchedulePaused: r.paused, WorkflowType: r.schedule.action?.startWorkflow?.workflowType?.name },
              searchAttributes: r.searchAttributes,
            }),
          )
          .sort((a, b) => a.id.localeCompare(b.id));
        const offset = request.nextPageToken?.length ? Number(Buffer.from(request.nextPageToken).toString()) : 0;
        const size = request.maximumPageSize && request.maximumPageSize > 0 ? request.maximumPageSize : 1000;
        const page = all.slice(offset, offset + size);
        return {
          schedules: page.map((r) => ({
            scheduleId: r.id,
            memo: { fields: r.memo },
            searchAttributes: { indexedFields: r.searchAttributes },
            info: {
              spec: r.schedule.spec,
              workflowType: r.schedule.action?.startWorkflow?.workflowType,
              notes: r.schedule.state?.notes,
              paused: r.paused,
              recentActions: r.recentActions.slice(-1),
              futureActionTimes: r.futureTimes(5).map(timestamp),
            },
          })),
          nextPageToken: offset + page.length < all.length ? Buffer.from(String(offset + page.length)) : undefined,
        };
      },
    };
  }
}
