// The report of a sweep (`alexnet report DIR` on a sweep directory): one table row per run
// (seed, grid values, state, epochs, test top-1, a link to the run's own report), and beside
// the members, the ensemble of each grid point's finished runs (their softmax averaged, as
// `eval --ensemble` does) with its test top-1: the paper's comparison of one net and several.
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Backend } from '../backend/backend.js';
import { evaluateModels, loadTrainedModel } from '../eval/models.js';
import { writeFileAtomic } from '../io/files.js';
import { sweepStatus, type RunStatus } from '../sweep/status.js';
import { escape } from './charts.js';

export interface EnsembleRow {
  /** The grid point's values as "lr=0.01, batch=32" (empty without a grid). */
  point: string;
  members: string[];
  best_member_top1: number;
  top1: number;
  top5: number;
}

export interface SweepReport {
  path: string;
  runs: RunStatus[];
  ensembles: EnsembleRow[];
}

const pct = (x: number | null) => (x === null ? '' : `${(x * 100).toFixed(2)}%`);
const pointText = (run: RunStatus) => Object.entries(run.point).map(([k, v]) => `${k}=${v}`).join(', ');

/** The ensembles of each grid point with two or more finished runs, evaluated on their test set. */
async function ensembles(runs: RunStatus[], backend: Backend): Promise<EnsembleRow[]> {
  const groups = new Map<string, RunStatus[]>();
  for (const run of runs.filter((r) => r.state === 'done')) groups.set(pointText(run), [...(groups.get(pointText(run)) ?? []), run]);
  const rows: EnsembleRow[] = [];
  for (const [point, members] of groups) {
    if (members.length < 2) continue;
    const models = await Promise.all(members.map((m) => loadTrainedModel(m.dir)));
    const r = await evaluateModels(models, models[0].model.data, backend);
    rows.push({ point, members: members.map((m) => m.name), best_member_top1: Math.max(...members.map((m) => m.test_top1 ?? 0)), top1: r.top1, top5: r.top5 });
  }
  return rows;
}

export async function buildSweepReport(sweepDir: string, backend: Backend): Promise<SweepReport> {
  const status = await sweepStatus(sweepDir);
  const rows = await ensembles(status.runs, backend);
  const gridKeys = [...new Set(status.runs.flatMap((r) => Object.keys(r.point)))];
  const runRows = status.runs.map((r) => {
    const own = join(r.dir, 'report', 'index.html');
    const name = existsSync(own) ? `<a href="${escape(relative(sweepDir, own))}">${escape(r.name)}</a>` : escape(r.name);
    const cells = [r.seed, ...gridKeys.map((k) => r.point[k] ?? ''), r.state, `${r.epochs_done}/${r.epochs ?? '?'}`, pct(r.test_top1)];
    return `<tr><td style="text-align:left">${name}</td>${cells.map((c) => `<td>${escape(String(c))}</td>`).join('')}</tr>`;
  });
  const ensembleRows = rows.map((e) => {
    const gain = e.top1 - e.best_member_top1;
    return `<tr><td style="text-align:left">${escape(e.point || 'all seeds')}</td><td>${e.members.length}</td><td>${pct(e.best_member_top1)}</td>` +
      `<td><b>${pct(e.top1)}</b></td><td>${gain >= 0 ? '+' : ''}${(gain * 100).toFixed(2)}</td><td>${pct(e.top5)}</td></tr>`;
  });
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AlexNet.ts sweep: ${escape(sweepDir)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin-bottom:2em}td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}</style></head>
<body><h1>Sweep ${escape(sweepDir)}</h1>
<p>${status.runs.length} runs: ${status.counts.done} done, ${status.counts.running} running, ${status.counts.pending} pending, ${status.counts.failed} failed.</p>
<h2>Ensembles</h2>
${ensembleRows.length === 0 ? '<p>None yet: an ensemble needs two finished runs of one grid point.</p>' : `<table><tr><th style="text-align:left">grid point</th><th>members</th><th>best member top-1</th><th>ensemble top-1</th><th>gain (points)</th><th>ensemble top-5</th></tr>
${ensembleRows.join('\n')}
</table>`}
<h2>Members</h2>
<table><tr><th style="text-align:left">run</th><th>seed</th>${gridKeys.map((k) => `<th>${escape(k)}</th>`).join('')}<th>state</th><th>epochs</th><th>test top-1</th></tr>
${runRows.join('\n')}
</table></body></html>
`;
  const path = join(sweepDir, 'report.html');
  await writeFileAtomic(path, html);
  return { path, runs: status.runs, ensembles: rows };
}
