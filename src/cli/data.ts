// `alexnet data prepare` and `alexnet data inspect`: wiring only; the work is in src/data/.
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { UsageError } from '../core/errors.js';
import { SPLIT_NAMES } from '../data/dataset.js';
import { inspectSpec, type InspectReport } from '../data/inspect.js';
import { dataDirectory } from '../data/open.js';
import { checkOutputFolder } from '../io/outputs.js';
import { positiveInt } from './options.js';
import { loadWithSharp } from '../data/load_sharp.js';

/** Skipped files listed in text output before "... and N more". */
const SHOWN_SKIPS = 20;

/** A progress bar on stderr when it is a terminal; nothing otherwise (logs, pipes). */
function progressBar(label: string): { update: (done: number, total: number) => void; stop: () => void } {
  if (!process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {value}/{total} {percentage}% ETA {eta_formatted}`, stream: process.stderr, etaBuffer: 200 },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update: (done, total) => {
      if (!started) bar.start(total, 0);
      started = true;
      bar.update(done);
    },
    stop: () => started && bar.stop(),
  };
}

function skippedLines(report: InspectReport): string[] {
  const all = SPLIT_NAMES.flatMap((s) => report.splits[s]?.skipped ?? []);
  const lines = all.slice(0, SHOWN_SKIPS).map((s) => `  ${s.file}: ${s.reason}`);
  if (all.length > SHOWN_SKIPS) lines.push(`  ... and ${all.length - SHOWN_SKIPS} more (--json lists them all)`);
  return lines;
}

function formatReport(r: InspectReport): string {
  const lines = [`${r.spec}: ${r.images} images, ${r.classes.length} classes, ${r.skipped} files skipped (checked: ${r.checked})`];
  if (r.complete === false) lines.push('  cache is incomplete: run `alexnet data prepare` again to finish it');
  if (r.shape) lines.push(`  stored as ${r.shape.join(' x ')} uint8`);
  for (const split of SPLIT_NAMES) {
    const s = r.splits[split];
    if (!s) continue;
    lines.push(`${split}: ${s.images} images`);
    r.classIds.forEach((id, i) => lines.push(`  ${id}${r.classes[i] !== id ? ` (${r.classes[i]})` : ''}: ${s.perClass[id]}`));
  }
  if (r.skipped > 0) lines.push('skipped:', ...skippedLines(r));
  return lines.join('\n');
}

export function registerDataCommands(program: Command): void {
  const data = program.command('data').description('prepare and inspect datasets');

  data
    .command('prepare')
    .description('decode a folder: or imagenet: source once into a shard cache (resumable: run again after an interruption)')
    .argument('<spec>', 'folder:DIR or imagenet:DIR')
    .requiredOption('--out <dir>', 'cache directory; use it as --data cache:DIR')
    .option('--side <n>', 'side of the stored square images', positiveInt('--side'), 256)
    .option('--shard-images <n>', 'images per shard file', positiveInt('--shard-images'), 1024)
    .option('--part <i/N>', 'decode only part i (0-based) of N, into --out/parts/ (one array task of a cluster job each); then --merge N')
    .option('--merge <N>', 'join the N finished parts into the cache (the same bytes as one whole prepare) and remove them', positiveInt('--merge'))
    .option('--json', 'print the inspection of the finished cache as one JSON object')
    .action(async (spec: string, o: { out: string; side: number; shardImages: number; part?: string; merge?: number; json?: boolean }) => {
      const kind = spec.split(':')[0];
      if (kind !== 'folder' && kind !== 'imagenet') {
        throw new UsageError(`data prepare: "${spec}" needs no preparation (only folder:DIR and imagenet:DIR specs are decoded)`);
      }
      if (o.part !== undefined && o.merge !== undefined) throw new UsageError('data prepare: --part and --merge are separate steps (each part, then one merge)');
      const part = o.part === undefined ? null : /^(\d+)\/(\d+)$/.exec(o.part);
      if (part === null && o.part !== undefined) throw new UsageError(`--part: expected i/N (e.g. 3/8), found "${o.part}"`);
      await checkOutputFolder('--out', o.out, 'prepared data cache', { folders: [{ path: await dataDirectory(spec), what: `the data set ${spec}` }] });
      const { prepareCache } = await loadWithSharp(() => import('../data/prepare.js'));
      const { mergeParts, preparePart } = await import('../data/prepare_parts.js');
      const options = { side: o.side, imagesPerShard: o.shardImages };
      const bar = progressBar(o.merge ? 'merging' : 'decoding');
      try {
        if (part) {
          await preparePart(spec, o.out, Number(part[1]), Number(part[2]), { ...options, onProgress: (p) => bar.update(p.done, p.total) });
        } else if (o.merge) {
          await mergeParts(spec, o.out, o.merge, options);
        } else {
          await prepareCache(spec, o.out, { ...options, onProgress: (p) => bar.update(p.done, p.total) });
        }
      } finally {
        bar.stop();
      }
      if (part) {
        console.log(`prepared part ${part[1]} of ${part[2]} in ${o.out}/parts; when every part is done: alexnet data prepare ${spec} --out ${o.out} --merge ${part[2]}`);
        return;
      }
      const report = await inspectSpec(`cache:${o.out}`);
      console.log(o.json ? JSON.stringify({ ...report, out: o.out }) : `prepared ${o.out} (use --data cache:${o.out})\n${formatReport(report)}`);
    });

  data
    .command('inspect')
    .description('classes, images per split and class, and skipped files with reasons')
    .argument('<spec>', 'fashion-mnist[:DIR], cifar10:DIR, folder:DIR, imagenet:DIR or cache:DIR')
    .option('--decode', 'decode every image file (finds corrupt and truncated files; slower)')
    .option('--json', 'one JSON object')
    .action(async (spec: string, o: { decode?: boolean; json?: boolean }) => {
      const bar = progressBar(o.decode ? 'decoding' : 'checking');
      let report: InspectReport;
      try {
        report = await inspectSpec(spec, { decode: o.decode, onProgress: bar.update });
      } finally {
        bar.stop();
      }
      console.log(o.json ? JSON.stringify(report) : formatReport(report));
    });
}
