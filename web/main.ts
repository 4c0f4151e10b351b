// The page: it starts the training worker (worker.ts), sends it what the person asks, and hands
// each message from it to the panels under ui/ that draw it: the Train form (settings.ts), Teach
// it your classes (teach.ts, classes.ts, camera.ts), the Runs list (runs.ts), the Live view
// (live.ts), Classify (classify.ts) and what the net sees in an answer's image (explain.ts). All computing happens
// in the worker. Every message from the worker is also kept in window.alexnetLog, for scripts
// that drive the page (the browser tests, the benchmark).
import type { FromWorker, RunState, RunSummary, ToWorker } from './protocol.js';
import { classifyHandlers, setUpClassify } from './ui/classify.js';
import { $, say } from './ui/dom.js';
import { explainHandlers, setUpExplain } from './ui/explain.js';
import { liveHandlers, onTestClicked, showState } from './ui/live.js';
import { runCount, setRunsBusy, setUpRuns, showRuns } from './ui/runs.js';
import { dataChoice, dataForKept, fillSettings, readSettings, setUpSettings, transfers } from './ui/settings.js';
import { setUpTeach, teachHandlers } from './ui/teach.js';

const opened = performance.now();
const log: { at: number; message: FromWorker }[] = [];
(window as unknown as { alexnetLog: typeof log }).alexnetLog = log;

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (m: ToWorker, transfer: Transferable[] = []) => worker.postMessage(m, transfer);

let state: RunState = 'idle';

function setButtons(next: RunState): void {
  state = next;
  const busy = next === 'training' || next === 'loading' || next === 'scoring';
  $<HTMLButtonElement>('start').disabled = busy;
  $<HTMLButtonElement>('pause').disabled = next !== 'training';
  $<HTMLButtonElement>('resume').disabled = next !== 'paused';
  const stop = $<HTMLButtonElement>('stop');
  stop.disabled = next !== 'training' && next !== 'paused' && next !== 'scoring';
  stop.textContent = next === 'scoring' ? 'Cancel scoring' : 'Stop';
  setRunsBusy(busy);
}

$('start').addEventListener('click', async () => {
  say(null);
  const settings = readSettings(`Run ${runCount() + 1}`);
  if (!settings) return;
  try {
    const data = await dataChoice();
    send({ type: 'start', settings, data }, transfers(data));
  } catch (err) {
    say((err as Error).message);
  }
});
$('pause').addEventListener('click', () => send({ type: 'pause' }));
$('resume').addEventListener('click', () => send({ type: 'resume' }));
$('stop').addEventListener('click', () => send({ type: 'stop' }));

async function openKept(run: RunSummary, resume: boolean): Promise<void> {
  say(null);
  try {
    const data = await dataForKept(run.dataKind);
    send({ type: 'open', id: run.id, resume, data }, transfers(data));
  } catch (err) {
    say((err as Error).message);
  }
}

// A page hidden (another tab, a phone's home screen) or closed: the open run saves its last steps.
const flush = () => state === 'training' && send({ type: 'flush' });
document.addEventListener('visibilitychange', () => document.visibilityState === 'hidden' && flush());
window.addEventListener('pagehide', flush);

const handlers: { [K in FromWorker['type']]: (m: Extract<FromWorker, { type: K }>) => void } = {
  ...liveHandlers,
  ...explainHandlers,
  backend: (m) => ($('backend').textContent = m.name),
  runs: (m) => {
    showRuns(m.runs, m.open);
    teachHandlers.runs(m);
  },
  state: (m) => {
    setButtons(m.state);
    showState(m.state);
    teachHandlers.state(m);
  },
  run: (m) => {
    if (m.dataKind !== 'classes') fillSettings(m.settings);
    liveHandlers.run(m);
    teachHandlers.run(m);
  },
  done: (m) => {
    liveHandlers.done(m);
    teachHandlers.done(m);
  },
  bars: teachHandlers.bars,
  prediction: (m) => {
    liveHandlers.prediction(m);
    classifyHandlers.prediction(m);
  },
  weights: classifyHandlers.weights,
  saved: () => {},
  exported: (m) => {
    const link = document.createElement('a');
    link.href = URL.createObjectURL(new Blob([m.bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
    link.download = m.name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  },
  error: (m) => {
    say(m.message);
    teachHandlers.error();
  },
};

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  log.push({ at: performance.now() - opened, message: e.data });
  (handlers[e.data.type] as (m: FromWorker) => void)(e.data);
};
worker.onerror = (e) => say(`the training worker failed: ${e.message}`);
// For scripts that test the page: what a driver reset does to the GPU device.
(window as unknown as { alexnetTest: object }).alexnetTest = { loseDevice: () => send({ type: 'loseDevice' }) };

onTestClicked((index) => {
  send({ type: 'classifyTest', index });
  send({ type: 'similar', index });
});
setUpSettings();
setUpRuns(send, (run, resume) => void openKept(run, resume));
setUpClassify(send);
setUpExplain(send);
setUpTeach(send).catch((err) => say(`your classes could not be read from this browser's storage: ${(err as Error).message}`));
setButtons('idle');
