#!/usr/bin/env node
// The `alexnet` command: wiring only. Errors become one line on stderr and exit code 1
// (2 for usage); --verbose adds the stack.
import { Command, CommanderError, Option } from 'commander';
import { AlexNetError, UsageError } from '../core/errors.js';
import { selectBackend, selectBackends } from '../backend/select.js';
import { PAPER_SGD } from '../backend/cpu/sgd.js';
import { architecture, ARCHITECTURE_NAMES } from '../nn/architectures.js';
import { checkDevicesFit } from '../nn/memory.js';
import { towersProblem } from '../parallel/tower_plan.js';
import { INITIAL_SCALE, isLossScale } from '../optim/loss_scale.js';
import { MAX_SEED } from '../rng/hash.js';
import { train } from '../train/trainer.js';
import { readFineTuneSource } from '../train/fine_tune_source.js';
import { firstTrainedLayer } from '../train/fine_tune.js';
import { evaluateModels } from '../eval/models.js';
import { buildReport } from '../report/report.js';
import { buildSweepReport } from '../report/sweep_report.js';
import { SWEEP_FILE } from '../sweep/plan.js';
import { benchmark } from './bench.js';
import { runForward } from './forward.js';
import { collectInfoWithWebGpu, formatInfo } from './info.js';
import { registerDataCommands } from './data.js';
import { registerExplainCommands } from './explain.js';
import { registerInteropCommands } from './interop.js';
import { registerSweepCommands } from './sweep.js';
import { backendOption, cpuOptions, precisionOption, threadsOption, tilesOption, finiteNumber, fraction, nonNegativeInt, notice, oneOf, positiveInt, positiveNumber, seedValue } from './options.js';
import { evaluationData, loadModels, modelOptions, registerModelCommands } from './models.js';
import { trainReporter } from './progress.js';
import { serve, servedAt, WEB_ROOT } from './serve.js';
import { existsSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

const archOption = () => new Option('--arch <name>', ARCHITECTURE_NAMES.join(', ')).makeOptionMandatory();

function lossScale(value: string): number {
  const s = Number(value);
  if (!isLossScale(s)) throw new UsageError(`--loss-scale: expected a power of two >= 1 (scaling by it is exact), found "${value}"`);
  return s;
}

/** Fine-tuning's defaults: Caffe's recipe (base_lr 0.001, the new layer's lr_mult 10). */
const FINE_TUNE_LR = 0.001;
const FINE_TUNE_LR_MULT = 10;

/** The --from model, after the options that only go with it are checked. */
async function fineTuneSource(o: { from?: string; resume?: string; freeze?: string; lrMultNew?: number; preprocessing?: string; arch?: string; parallel?: string; devices?: number }) {
  if (o.from === undefined) {
    const alone = [['--freeze', o.freeze], ['--lr-mult-new', o.lrMultNew], ['--preprocessing', o.preprocessing]].find(([, v]) => v !== undefined);
    if (alone) throw new UsageError(`${alone[0]} goes with --from (fine-tuning a trained model)`);
    return undefined;
  }
  if (o.resume !== undefined) throw new UsageError('--from starts a new run from a trained model; --resume continues a run: give one of them');
  if (o.parallel === 'towers' && (o.devices ?? 1) > 1) throw new UsageError('--from with --parallel towers: the towers train from scratch; fine-tune on one device or with --parallel data');
  return readFineTuneSource(o.from, o.arch);
}

const program = new Command('alexnet')
  .description('AlexNet (Krizhevsky, Sutskever & Hinton, 2012) in TypeScript')
  .option('--verbose', 'print stack traces with errors')
  .exitOverride();

program
  .command('info')
  .description('backends found, architectures and their costs')
  .option('--json', 'one JSON object')
  .action(async (o) => {
    const info = await collectInfoWithWebGpu();
    console.log(o.json ? JSON.stringify(info) : formatInfo(info));
  });

program
  .command('forward')
  .description('logits of a batch of images (evaluation mode, no dropout)')
  .addOption(archOption())
  .requiredOption('--weights <file>', 'weights (.safetensors)')
  .requiredOption('--input <file>', '.safetensors holding "input" f32 [N, C, H, W]')
  .requiredOption('--output <file>', '.safetensors to receive "logits" f32 [N, classes]')
  .option('--batch <n>', 'images per forward pass', positiveInt('--batch'), 16)
  .addOption(backendOption())
  .addOption(threadsOption())
  .option('--json', 'print a JSON summary')
  .action(async (o) => {
    const backend = await selectBackend(o.backend, notice, { cpu: cpuOptions(o) });
    const r = await runForward(o, backend);
    console.log(o.json ? JSON.stringify({ ...r, output: o.output, backend: backend.name }) : `wrote logits [${r.n}, ${r.classes}] to ${o.output}`);
  });

program
  .command('train')
  .description("train with the paper's SGD; checkpoints every epoch; evaluates on the test set")
  .option('--arch <name>', `${ARCHITECTURE_NAMES.join(', ')} (default: mini, or the --from model's)`)
  .option('--data <spec>', 'fashion-mnist[:DIR], cifar10:DIR, folder:DIR, imagenet:DIR or cache:DIR', 'fashion-mnist')
  .option('--from <source>', "fine-tune: start from a trained model (a run or checkpoint directory, .safetensors, torchvision .pth, .caffemodel); docs/transfer.md")
  .option('--freeze <layer>', 'with --from: the layers up to and including this one (conv1 ... fc7) are not trained (no gradient, no momentum)')
  .option('--lr-mult-new <m>', "with --from: a new fc8 (the data's classes are not the source's) learns m times faster", positiveNumber('--lr-mult-new'))
  .option('--preprocessing <which>', "with --from: the source model's (default) or the data's (its mean image, as from scratch)", oneOf('--preprocessing', ['source', 'data'] as const))
  .option('--augment <how>', "training views: paper (random crops, mirrors, PCA lighting) or none (centre crops)", oneOf('--augment', ['paper', 'none'] as const), 'paper')
  .option('--no-cache-features', "with --freeze and --augment none: run the frozen layers every step instead of keeping their outputs per image")
  .option('--epochs <n>', 'passes over the training set (with --resume: the new total)', positiveInt('--epochs'))
  .option('--batch <n>', "mini-batch size (the architecture's default: 128 for the paper's nets)", positiveInt('--batch'))
  .option('--lr <rate>', "initial learning rate, which cosine decays from (the architecture's default: 0.01)", positiveNumber('--lr'))
  .option('--lr-schedule <s>', "constant, step[:EPOCHS] or plateau[:PATIENCE] (/10, at most 3 times), or cosine (to zero over the run, per step); the architecture's default (the paper's: plateau)")
  .option('--momentum <m>', 'momentum, in [0, 1)', fraction('--momentum'), PAPER_SGD.momentum)
  .option('--weight-decay <wd>', 'weight decay', finiteNumber('--weight-decay', 0), PAPER_SGD.weightDecay)
  .option('--sgd-form <form>', 'paper (v <- m v - wd lr w - lr g) or pytorch', oneOf('--sgd-form', ['paper', 'pytorch'] as const), PAPER_SGD.form)
  .option('--init <scheme>', "paper (N(0, 0.01^2)) or he; the architecture's default otherwise", oneOf('--init', ['paper', 'he'] as const))
  .option('--bias-init <b>', 'replaces the nonzero bias initialisations (the paper: 1)', finiteNumber('--bias-init'))
  .option('--input-scale <s>', "factor on mean-subtracted pixels; the architecture's default otherwise", positiveNumber('--input-scale'))
  .option('--val <n>', 'training images held out for validation (default: 5000, or a tenth of a smaller set)', positiveInt('--val'))
  .option('--limit <n>', 'train on the first n training images only', positiveInt('--limit'))
  .option('--seed <s>', `seed for initialisation, order and dropout (0 to ${MAX_SEED})`, seedValue, 1)
  .option('--checkpoint-every <steps>', 'also checkpoint every this many steps', nonNegativeInt('--checkpoint-every'), 0)
  .option('--out <dir>', 'run directory: checkpoints/ (weights, momenta, state) and report/ are written there')
  .option('--no-report', 'skip the HTML report at the end')
  .option('--resume <dir>', "continue the run in DIR from its newest checkpoint, with that run's settings (--epochs and --lr may change); with --out, the continued run is written there and DIR is left as it is")
  .option('--force', 'start a new run in an --out that holds one (its checkpoints are moved aside, not deleted)')
  .addOption(backendOption())
  .addOption(threadsOption())
  .option('--devices <n>', 'devices to train on (n CPU backends, or n WebGPU devices); see docs/devices.md', positiveInt('--devices'), 1)
  .option('--parallel <how>', "with --devices: data (each device a slice of every batch) or towers (the paper's two towers, --devices 2)", oneOf('--parallel', ['data', 'towers'] as const), 'data')
  .option('--json', 'JSON lines: start, one per epoch, done')
  .option('--log-steps', 'with --json, also one line per step')
  .addOption(precisionOption())
  .addOption(tilesOption())
  .option('--loss-scale <s>', 'with --precision mixed: the loss scale to start from, a power of two (it halves on overflow, doubles after 2000 clean steps)', lossScale, INITIAL_SCALE)
  .action(async (o) => {
    const source = await fineTuneSource(o);
    const archName: string = o.arch ?? source?.info.arch ?? 'mini';
    const { defaults } = architecture(archName);
    firstTrainedLayer(architecture(archName), o.freeze); // a --freeze the net does not have is refused before any work
    const batch: number = o.batch ?? defaults.batch;
    if (o.parallel === 'towers') {
      if (o.devices !== 2) throw new UsageError(`--parallel towers: the paper's two towers need --devices 2, found ${o.devices}`);
      const problem = towersProblem(architecture(archName));
      if (problem) throw new UsageError(`--parallel towers: the ${archName} architecture cannot be split into the paper's two towers: ${problem}; use --parallel data`);
    } else if (o.devices > batch) throw new UsageError(`--devices ${o.devices}: more devices than images in a batch (--batch ${batch})`);
    const backends = await selectBackends(o.backend, o.devices, notice, { cpu: cpuOptions(o), tiles: o.tiles });
    const out = o.out ?? o.resume ?? `runs/${archName}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await train(
      {
        arch: archName, data: o.data, epochs: o.epochs ?? 2, batch, lr: o.lr ?? (source ? FINE_TUNE_LR : defaults.lr),
        schedule: o.lrSchedule ?? defaults.schedule, momentum: o.momentum,
        weightDecay: o.weightDecay, sgdForm: o.sgdForm, seed: o.seed, init: o.init, biasInit: o.biasInit,
        inputScale: o.inputScale, validation: o.val, limit: o.limit, checkpointEvery: o.checkpointEvery, out, report: o.report,
        precision: o.precision, ...(o.precision === 'mixed' ? { lossScale: o.lossScale } : {}), augment: o.augment,
        ...(source ? {
          fineTune: { source: source.info, freeze: o.freeze, lrMultNew: o.lrMultNew ?? FINE_TUNE_LR_MULT, preprocessing: o.preprocessing, cacheFeatures: o.cacheFeatures },
        } : {}),
      },
      backends,
      trainReporter(Boolean(o.json), Boolean(o.logSteps)),
      o.resume ? { dir: o.resume, epochs: o.epochs, lr: o.lr } : undefined,
      { force: Boolean(o.force), parallel: o.parallel, source },
    );
  });

registerInteropCommands(program);
registerModelCommands(program);
registerExplainCommands(program);
registerDataCommands(program);
registerSweepCommands(program);

modelOptions(program.command('eval'), 'many')
  .description('top-1 / top-5 accuracy on the test set; several --checkpoint values make an ensemble')
  .option('--ensemble <dir...>', 'run or checkpoint directories whose softmax outputs are averaged (the same as several --checkpoint)')
  .option('--data <spec>', 'fashion-mnist[:DIR], cifar10:DIR, folder:DIR, imagenet:DIR or cache:DIR (default: the data the checkpoints were trained on; fashion-mnist for --weights)')
  .option('--batch <n>', 'images per forward pass (default 64; 8 with --ten-crop)', positiveInt('--batch'))
  .option('--ten-crop', "average the softmax over ten crops per image (corners, centre and their mirror images), as the paper's test results did")
  .addOption(backendOption())
  .addOption(precisionOption())
  .addOption(threadsOption())
  .option('--json', 'one JSON object')
  .action(async (o) => {
    const models = await loadModels('eval', { ...o, checkpoint: [...(o.checkpoint ?? []), ...(o.ensemble ?? [])] });
    const backend = await selectBackend(o.backend, notice, { cpu: cpuOptions(o), precision: o.precision });
    const tenCrop = Boolean(o.tenCrop);
    const r = await evaluateModels(models, evaluationData(models, o.data), backend, { batch: o.batch ?? (tenCrop ? 8 : 64), tenCrop, notice });
    console.log(
      o.json
        ? JSON.stringify(r)
        : `top-1 ${(r.top1 * 100).toFixed(2)}% (error ${((1 - r.top1) * 100).toFixed(2)}%), top-5 ${(r.top5 * 100).toFixed(2)}% ` +
            `on ${r.n} test images, ${r.models} model${r.models > 1 ? 's' : ''}, ${tenCrop ? 'ten crops' : 'centre crop'}`,
    );
  });

program
  .command('bench')
  .description('images per second of inference or training steps on random data (median of --steps)')
  .addOption(archOption())
  .requiredOption('--batch <n>', 'batch size', positiveInt('--batch'))
  .addOption(new Option('--mode <mode>', 'train or infer').choices(['train', 'infer']).makeOptionMandatory())
  .option('--steps <n>', 'timed steps (median reported)', positiveInt('--steps'), 5)
  .option('--warmup <n>', 'untimed steps first (they also build every GPU pipeline)', nonNegativeInt('--warmup'), 2)
  .option('--profile', 'per-op time over one more step (WebGPU: GPU timestamps; CPU: wall time per kind of kernel job)')
  .option('--devices <n>', 'spread each batch over n devices (data parallel; docs/devices.md)', positiveInt('--devices'), 1)
  .addOption(backendOption())
  .addOption(precisionOption())
  .addOption(tilesOption())
  .addOption(threadsOption())
  .option('--json', 'one JSON object')
  .action(async (o) => {
    if (o.devices > o.batch) throw new UsageError(`--devices ${o.devices}: more devices than images in a batch (--batch ${o.batch})`);
    const [backend, ...more] = await selectBackends(o.backend, o.devices, notice, { cpu: cpuOptions(o), precision: o.precision, tiles: o.tiles });
    checkDevicesFit(architecture(o.arch), o.batch, [backend, ...more], false, { cores: availableParallelism(), memory: totalmem() });
    const r = await benchmark({ arch: o.arch, batch: o.batch, mode: o.mode, backend, more, steps: o.steps, warmup: o.warmup, profile: o.profile, notice });
    if (o.json) {
      console.log(JSON.stringify(r));
      return;
    }
    console.log(`${r.arch} ${r.mode} batch ${r.batch} on ${r.devices > 1 ? `${r.devices} x ` : ''}${r.device}${r.precision === 'mixed' ? ' (mixed)' : ''}: ${r.img_per_s.toFixed(1)} img/s, ${r.ms_per_step.toFixed(1)} ms/step, ${r.gflop_per_s.toFixed(1)} GFLOP/s`);
    for (const e of r.profile ?? []) console.log(`  ${e.ms.toFixed(3).padStart(10)} ms  ${e.calls}x ${e.op}`);
  });

program
  .command('report')
  .description('the HTML report of a run (curves, conv1 filters, confusion matrix, fc7 retrieval, what the net sees), or of a sweep (its members and their ensembles)')
  .argument('<run-dir>', 'a directory written by alexnet train --out, or a sweep directory (alexnet sweep --out)')
  .addOption(backendOption())
  .addOption(threadsOption())
  .action(async (dir, o) => {
    const backend = await selectBackend(o.backend, notice, { cpu: cpuOptions(o) });
    if (!existsSync(join(dir, SWEEP_FILE))) {
      console.log((await buildReport(dir, backend)).path);
      return;
    }
    const r = await buildSweepReport(dir, backend);
    for (const e of r.ensembles) {
      notice(`${e.point || 'all seeds'}: ${e.members.length} members, best ${(e.best_member_top1 * 100).toFixed(2)}%, ensemble ${(e.top1 * 100).toFixed(2)}% test top-1`);
    }
    console.log(r.path);
  });

program
  .command('serve')
  .description('the page that trains, classifies and shows what the net learned, in your browser (WebGPU or the CPU)')
  .option('--port <n>', 'port to listen on (0: any free one)', nonNegativeInt('--port', 65535), 8080)
  .option('--host <address>', 'address to listen on (0.0.0.0 for other machines)', '127.0.0.1')
  .action(async (o: { port: number; host: string }) => {
    const server = await serve(WEB_ROOT, o.port, o.host);
    const { url, warning } = servedAt(o.host, (server.address() as AddressInfo).port);
    if (warning) notice(warning);
    console.log(`serving the page at ${url} (Ctrl-C stops)`);
    await new Promise(() => {}); // until the process is stopped
  });

async function main(argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed its message; help and --version exit 0.
      return err.exitCode === 0 ? 0 : 2;
    }
    const verbose = argv.includes('--verbose');
    if (err instanceof AlexNetError) {
      process.stderr.write(`alexnet: ${err.message}\n`);
      if (verbose) process.stderr.write(`${err.stack}\n`);
      return err instanceof UsageError ? 2 : 1;
    }
    const e = err as Error;
    process.stderr.write(`alexnet: internal error: ${e?.message ?? String(err)}${verbose ? `\n${e?.stack}` : ' (--verbose shows where)'}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv);
