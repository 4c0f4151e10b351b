// An ensemble's predictions worked out here, apart from the code that makes them (eval/run.ts
// averages the models' softmax): each model's logits from its own Net over the test split, then
// the softmax of each (float64) averaged, and, for contrast, the logits averaged. The tests
// compare eval's ensemble and the sweep report's figure with these.
import type { Backend } from '../src/backend/backend.js';
import { modelInput, testData, type LoadedModel } from '../src/eval/models.js';
import { architecture } from '../src/nn/architectures.js';
import { Net } from '../src/nn/net.js';

export interface TestLogits {
  /** One row of class scores per test image. */
  logits: Float32Array[];
  labels: number[];
}

/** `m`'s logits for every test image of `spec` (centre crops, as evaluation takes them). */
export async function testLogits(m: LoadedModel, spec: string, backend: Backend, batch = 100): Promise<TestLogits> {
  const classes = m.model.classes.length;
  const data = await testData(spec, { ...modelInput(m.model), batch });
  const net = new Net(backend, architecture(m.model.arch, m.model.input, classes), batch);
  net.importTensors(m.weights, m.weightsPath);
  const out: TestLogits = { logits: [], labels: [] };
  try {
    for await (const b of data.test.epoch(0)) {
      backend.write(net.input, b.input);
      net.forward(b.count, 'eval');
      const l = await net.readLogits(b.count);
      for (let i = 0; i < b.count; i++) {
        out.logits.push(l.slice(i * classes, (i + 1) * classes));
        out.labels.push(b.labels[i]);
      }
    }
  } finally {
    await data.close();
  }
  return out;
}

function softmax(row: Float32Array): number[] {
  const max = Math.max(...row);
  const e = Array.from(row, (v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

const argmax = (row: number[]) => row.indexOf(Math.max(...row));

export interface EnsemblePicks {
  /** The class each image gets from the averaged softmax, and from the averaged logits. */
  bySoftmax: number[];
  byLogits: number[];
  /** The averaged softmax's lead of its first class over its second, per image. */
  margin: number[];
  /** Top-1 of the averaged softmax. */
  top1: number;
}

/** The ensemble of the models whose test logits are `members` (the same images in the same order). */
export function ensemblePicks(members: TestLogits[]): EnsemblePicks {
  const n = members[0].labels.length;
  const picks: EnsemblePicks = { bySoftmax: [], byLogits: [], margin: [], top1: 0 };
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const classes = members[0].logits[i].length;
    const probs = new Array<number>(classes).fill(0);
    const logits = new Array<number>(classes).fill(0);
    for (const m of members) {
      softmax(m.logits[i]).forEach((p, c) => (probs[c] += p / members.length));
      m.logits[i].forEach((v, c) => (logits[c] += v / members.length));
    }
    const best = argmax(probs);
    const sorted = [...probs].sort((a, b) => b - a);
    picks.bySoftmax.push(best);
    picks.byLogits.push(argmax(logits));
    picks.margin.push(sorted[0] - sorted[1]);
    if (best === members[0].labels[i]) hits++;
  }
  picks.top1 = hits / n;
  return picks;
}
