// The CPU backend's thread pool: workers that share the backend's WebAssembly memory and take
// tasks of one job at a time (docs/cpu.md). No Node module here: a host object starts the workers
// (host_node.ts: worker_threads; a browser's would start Web Workers), so the same code runs on
// Node's main thread, in a browser worker, or in a worker of its own.
//
// A job is a task function (one of jobs.ts's table), up to ARG_SLOTS numbers and a task count. The dispatching
// thread writes them to a control block in the shared memory, bumps a generation counter and
// wakes the workers; every thread, the dispatcher included, then claims task indices from one
// atomic counter until none are left, and each worker says it has left the job. A task's output
// never depends on which thread ran it or on how many there are: tasks write disjoint outputs
// and sum every element in one fixed order, so results are bit-identical for any thread count.
import type { Heap } from './heap.js';
import type { Kernels } from './kernels.js';
import type { WasmMemory, WasmModule } from './wasm_api.js';

/** What a task sees: its thread's kernels (instances on the shared memory) and scratch. */
export interface ThreadContext {
  /** 0 is the dispatching thread, workers are 1..threads-1. */
  readonly thread: number;
  readonly kernels: Kernels;
  /** The shared memory as floats, current after growth. */
  f32(): Float32Array;
  /** Byte address of this thread's scratch area for the running job (Pool.scratch). */
  scratch(): number;
}

export type TaskFn = (ctx: ThreadContext, args: Float64Array, task: number) => void;

/** What a worker needs to join the pool (posted to it once; all of it structured-cloneable). */
export interface WorkerInit {
  memory: WasmMemory;
  modules: Record<string, WasmModule>;
  thread: number;
  /** Byte address of the control block. */
  control: number;
}

/** The host's way to start threads: Node's worker_threads, a browser's Web Workers. */
export interface PoolHost {
  /** Threads to use unless told otherwise: all cores. */
  readonly cores: number;
  /** Whether this thread may block in Atomics.wait (a browser's main thread may not). */
  readonly canBlock: boolean;
  /** Starts a worker that runs worker.ts's serveWorker(init). */
  startWorker(init: WorkerInit): { terminate(): void };
}

// The control block: Int32 words, then the job's arguments as Float64.
const GEN = 0; // bumped once per job
const STOP = 1; // nonzero: workers return
const NEXT = 2; // next task index to claim
const TASKS = 3; // tasks in the job
const JOB = 4; // index of the job's task function
const LEFT = 5; // workers done with the job
const READY = 6; // workers started
const FAULT = 7; // 1 + the thread whose task threw, or 0
const SCRATCH_BASE = 8; // byte address of thread 0's scratch
const SCRATCH_STRIDE = 9; // bytes between two threads' scratch areas
const ARGS_BYTE = 64;
export const ARG_SLOTS = 48;
export const CONTROL_BYTES = ARGS_BYTE + ARG_SLOTS * 8;

/** Polls of a word before blocking on it: a few microseconds, to catch the next job early. */
const SPINS = 2000;
const START_TIMEOUT_MS = 30_000;

/** Control block views over the memory (taken anew if an unshared memory grew and detached them). */
class Control {
  private buffer: ArrayBuffer | SharedArrayBuffer | null = null;
  private wordsView: Int32Array<ArrayBuffer | SharedArrayBuffer> = new Int32Array(0);
  private argsView: Float64Array<ArrayBuffer | SharedArrayBuffer> = new Float64Array(0);
  constructor(
    private readonly memory: WasmMemory,
    private readonly at: number,
  ) {}

  private views(): void {
    if (this.buffer === this.memory.buffer) return;
    this.buffer = this.memory.buffer;
    this.wordsView = new Int32Array(this.buffer, this.at, ARGS_BYTE / 4);
    this.argsView = new Float64Array(this.buffer, this.at + ARGS_BYTE, ARG_SLOTS);
  }

  get words(): Int32Array<ArrayBuffer | SharedArrayBuffer> {
    this.views();
    return this.wordsView;
  }

  get args(): Float64Array<ArrayBuffer | SharedArrayBuffer> {
    this.views();
    return this.argsView;
  }

  /** Waits until words[i] !== value: spins a little, then blocks (or spins on, if it may not block). */
  waitWhile(i: number, value: number, canBlock: boolean): void {
    const w = this.words;
    for (let s = 0; s < SPINS; s++) if (Atomics.load(w, i) !== value) return;
    while (Atomics.load(w, i) === value) {
      if (canBlock) Atomics.wait(w, i, value);
    }
  }

  scratch(thread: number): number {
    return (Atomics.load(this.words, SCRATCH_BASE) >>> 0) + thread * (Atomics.load(this.words, SCRATCH_STRIDE) >>> 0);
  }

  /** Runs tasks of the current job until none is left; returns false if one threw. */
  claim(ctx: ThreadContext, fn: TaskFn): boolean {
    const [w, args] = [this.words, this.args];
    const tasks = Atomics.load(w, TASKS);
    let ok = true;
    for (let t = Atomics.add(w, NEXT, 1); t < tasks; t = Atomics.add(w, NEXT, 1)) {
      try {
        fn(ctx, args, t);
      } catch (e) {
        ok = false;
        console.error(`CPU pool thread ${ctx.thread}: task ${t} failed:`, e);
      }
    }
    return ok;
  }
}

/**
 * The dispatching side. Without a host, or with one thread, every task runs on the calling
 * thread: the same task functions, in task order.
 */
export class Pool {
  private readonly control: Control;
  private readonly controlAt: number;
  private workers: { terminate(): void }[] = [];
  private readonly ctx: ThreadContext;
  private scratchBytes = 0;
  private readonly shared = new Map<string, { at: number; bytes: number }>();
  private readonly ids: Map<TaskFn, number>;
  private state: 'idle' | 'starting' | 'running' | 'stopped';
  /** Wall time and calls per task function while profiling (null: not profiling). */
  private timings: Map<string, { calls: number; ms: number }> | null = null;

  constructor(
    private readonly heap: Heap,
    private readonly host: PoolHost | null,
    /** Threads wanted, the dispatching one included. */
    readonly threads: number,
    private readonly modules: Record<string, WasmModule>,
    kernels: Kernels,
    table: readonly TaskFn[],
  ) {
    this.controlAt = heap.allocate(CONTROL_BYTES, 'the thread pool');
    this.control = new Control(heap.memory, this.controlAt);
    this.ctx = { thread: 0, kernels, f32: () => heap.f32, scratch: () => this.control.scratch(0) };
    this.ids = new Map(table.map((fn, i) => [fn, i]));
    this.state = host && threads > 1 && heap.shared ? 'idle' : 'stopped';
  }

  /** The shared memory (the backend's). */
  get memory(): WasmMemory {
    return this.heap.memory;
  }

  /** Threads that take tasks now: 1 until the workers have started. */
  get active(): number {
    return this.state === 'running' ? this.workers.length + 1 : 1;
  }

  /** Starts the workers, blocking until they are ready (for threads that may block). */
  startBlocking(): void {
    if (this.state !== 'idle') return;
    this.spawn();
    const deadline = Date.now() + START_TIMEOUT_MS;
    const w = this.control.words;
    for (let ready = Atomics.load(w, READY); ready < this.workers.length; ready = Atomics.load(w, READY)) {
      if (Date.now() > deadline) this.fail();
      Atomics.wait(w, READY, ready, 100);
    }
    this.state = 'running';
  }

  /** Starts the workers; resolves once they are ready (for threads that may not block). */
  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    this.spawn();
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Atomics.load(this.control.words, READY) < this.workers.length) {
      if (Date.now() > deadline) this.fail();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    this.state = 'running';
  }

  private spawn(): void {
    this.state = 'starting';
    for (let t = 1; t < this.threads; t++) {
      this.workers.push(this.host!.startWorker({ memory: this.heap.memory, modules: this.modules, thread: t, control: this.controlAt }));
    }
  }

  private fail(): never {
    const ready = Atomics.load(this.control.words, READY);
    this.stop();
    throw new Error(`CPU backend: only ${ready} of ${this.threads - 1} worker threads started within ${START_TIMEOUT_MS / 1000} s`);
  }

  /**
   * Makes each thread's scratch area (ThreadContext.scratch) at least `bytes` long for the jobs
   * that follow. Areas only grow; a larger one is allocated anew.
   */
  scratch(bytes: number): void {
    if (bytes <= this.scratchBytes) return;
    const stride = Math.ceil(bytes / 4096) * 4096;
    const base = this.heap.allocate(stride * this.threads, 'scratch');
    Atomics.store(this.control.words, SCRATCH_BASE, base | 0);
    Atomics.store(this.control.words, SCRATCH_STRIDE, stride);
    this.scratchBytes = stride;
  }

  /** Byte address of a buffer shared by all threads, named by its use, at least `bytes` long. */
  sharedBuffer(name: string, bytes: number): number {
    const have = this.shared.get(name);
    if (have && have.bytes >= bytes) return have.at;
    const at = this.heap.allocate(bytes, name);
    this.shared.set(name, { at, bytes });
    return at;
  }

  /** Starts timing every job (wall time on the dispatching thread, dispatch included), per task function. */
  startProfile(): void {
    this.timings = new Map();
  }

  /** The times since startProfile(), largest first, in ms; job names are the task functions' without "Task". */
  profile(): { op: string; calls: number; ms: number }[] {
    return [...(this.timings ?? [])].map(([op, t]) => ({ op, ...t })).sort((a, b) => b.ms - a.ms);
  }

  stopProfile(): void {
    this.timings = null;
  }

  /** Runs fn's tasks 0..tasks-1 with `args` on every thread; fn must be in the task table. */
  run(fn: TaskFn, args: readonly number[], tasks: number): void {
    if (!this.timings) return this.dispatch(fn, args, tasks);
    const start = performance.now();
    this.dispatch(fn, args, tasks);
    const op = fn.name.replace(/Task$/, '');
    const t = this.timings.get(op) ?? { calls: 0, ms: 0 };
    this.timings.set(op, { calls: t.calls + 1, ms: t.ms + performance.now() - start });
  }

  private dispatch(fn: TaskFn, args: readonly number[], tasks: number): void {
    const job = this.ids.get(fn);
    if (job === undefined) throw new Error(`CPU backend: ${fn.name} is not in the pool's task table`);
    if (this.state === 'idle' && this.host!.canBlock) this.startBlocking();
    const c = this.control;
    const w = c.words;
    c.args.set(args);
    if (this.state !== 'running' || tasks <= 1) {
      for (let t = 0; t < tasks; t++) fn(this.ctx, c.args, t);
      return;
    }
    Atomics.store(w, NEXT, 0);
    Atomics.store(w, TASKS, tasks);
    Atomics.store(w, JOB, job);
    Atomics.store(w, LEFT, 0);
    Atomics.add(w, GEN, 1);
    Atomics.notify(w, GEN);
    const ok = c.claim(this.ctx, fn);
    for (let left = Atomics.load(w, LEFT); left < this.workers.length; left = Atomics.load(w, LEFT)) {
      c.waitWhile(LEFT, left, this.host!.canBlock);
    }
    const fault = Atomics.exchange(w, FAULT, 0);
    if (!ok || fault) throw new Error(`CPU backend: a task of ${fn.name} failed on thread ${ok ? fault - 1 : 0} (see the message above)`);
  }

  /** Stops the workers (for good: later jobs run on the calling thread). */
  stop(): void {
    if (this.workers.length > 0) {
      Atomics.store(this.control.words, STOP, 1);
      Atomics.add(this.control.words, GEN, 1);
      Atomics.notify(this.control.words, GEN);
      for (const worker of this.workers) worker.terminate();
    }
    this.workers = [];
    this.state = 'stopped';
  }
}

/** The worker's side: joins the pool of `init` and runs tasks until the pool stops. */
export function serveJobs(init: WorkerInit, memoryF32: () => Float32Array, kernels: Kernels, table: readonly TaskFn[]): void {
  const c = new Control(init.memory, init.control);
  const w = c.words;
  const ctx: ThreadContext = { thread: init.thread, kernels, f32: memoryF32, scratch: () => c.scratch(init.thread) };
  let seen = Atomics.load(w, GEN);
  Atomics.add(w, READY, 1);
  Atomics.notify(w, READY);
  for (;;) {
    c.waitWhile(GEN, seen, true);
    seen = Atomics.load(w, GEN);
    if (Atomics.load(w, STOP)) return;
    if (!c.claim(ctx, table[Atomics.load(w, JOB)])) Atomics.store(w, FAULT, init.thread + 1);
    Atomics.add(w, LEFT, 1);
    Atomics.notify(w, LEFT);
  }
}
