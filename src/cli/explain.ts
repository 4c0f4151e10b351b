// `alexnet explain` (activations, occlusion, saliency and Grad-CAM maps of images, as PNG
// overlays and raw float32 maps) and `alexnet units` (each unit's strongest images over a data
// split, as a grid). Wiring only: src/explain/ does the work (docs/explain.md).
import type { Command } from 'commander';
import { selectBackend } from '../backend/select.js';
import { UsageError } from '../core/errors.js';
import { METHODS, jobFromFiles, jobFromInput, runExplain, runUnits, type Method } from '../explain/files.js';
import { checkOutputFile, checkOutputFolder } from '../io/outputs.js';
import { loadTrainedModel } from '../eval/models.js';
import { backendOption, cpuOptions, nonNegativeInt, notice, oneOf, positiveInt, precisionOption, threadsOption } from './options.js';
import { modelOptions, oneModel, usedFolders } from './models.js';

function methods(value: string): Method[] {
  const names = value.split(',').map((s) => s.trim());
  if (names.includes('all')) return [...METHODS];
  for (const n of names) if (!(METHODS as readonly string[]).includes(n)) throw new UsageError(`--method: expected ${METHODS.join(', ')} or all (comma-separated), found "${n}"`);
  return [...new Set(names)] as Method[];
}

/** "0-15" or "3,7,12" (or both, "0-3,9"): unit numbers. */
function unitList(value: string): number[] {
  const units: number[] = [];
  for (const part of value.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m || (m[2] !== undefined && Number(m[2]) < Number(m[1]))) throw new UsageError(`--units: expected unit numbers and ranges such as 0-15 or 3,7,12, found "${value}"`);
    for (let u = Number(m[1]); u <= Number(m[2] ?? m[1]); u++) units.push(u);
  }
  return units;
}

const dataOption = ['--data <spec>', 'with --weights: the training set whose statistics and class names apply (default fashion-mnist)'] as const;

export function registerExplainCommands(program: Command): void {
  modelOptions(program.command('explain'), 'one')
    .description("what the net sees in images: every layer's activations, occlusion maps, gradient saliency and Grad-CAM, as PNG overlays")
    .argument('[images...]', 'image files (JPEG, PNG, WebP), preprocessed as the model was trained')
    .option('--input <file>', '.safetensors holding "input" f32 [N, C, H, W], already preprocessed (as alexnet forward takes), instead of image files')
    .requiredOption('--method <m>', `${METHODS.join(', ')} or all; several comma-separated`, methods)
    .option('--class <c>', 'the class to explain (default: the top class of each image)', nonNegativeInt('--class'))
    .option('--layer <name>', "Grad-CAM's conv layer (default: the last, conv5)")
    .option('--patch <p>', 'occlusion: side of the square, in input pixels (default: a seventh of the image side)', positiveInt('--patch'))
    .option('--stride <s>', 'occlusion: pixels between positions (default: half the patch)', positiveInt('--stride'))
    .requiredOption('--out <dir>', 'folder for the PNG pictures (made if missing)')
    .option('--save <file>', "one image's raw maps as float32 safetensors: saliency [H, W], gradcam [h, w], occlusion [rows, cols], activations.<layer>")
    .option(...dataOption)
    .option('--batch <n>', 'occluded copies per forward pass', positiveInt('--batch'), 32)
    .addOption(backendOption())
    .addOption(precisionOption())
    .addOption(threadsOption())
    .option('--json', 'one JSON object per image')
    .action(async (images: string[], o) => {
      if ((images.length > 0) === Boolean(o.input)) throw new UsageError('explain: give image files or --input X.safetensors (one of them)');
      if (o.input && !o.checkpoint && !(o.weights && o.arch)) throw new UsageError('explain: give --checkpoint DIR, or --weights FILE with --arch');
      const model = o.input ? (o.checkpoint ? await loadTrainedModel(o.checkpoint) : null) : await oneModel('explain', o);
      // The pictures and maps go where they overwrite nothing read and add nothing to a data set or run.
      const guard = { inputs: [...images, ...(o.input ? [o.input] : []), ...(model ? [model.weightsPath] : o.weights ? [o.weights] : [])], folders: model ? await usedFolders(model) : [] };
      if (o.save) await checkOutputFile('--save', o.save, guard);
      await checkOutputFolder('--out', o.out, null, guard);
      const backend = await selectBackend(o.backend, notice, { cpu: cpuOptions(o), precision: o.precision });
      const job = o.input
        ? await jobFromInput(o.input, model ?? { weights: o.weights, arch: o.arch }, backend, o.batch)
        : await jobFromFiles(model!, images, backend, o.batch);
      const results = await runExplain(job, { methods: o.method, class: o.class, layer: o.layer, patch: o.patch, stride: o.stride, out: o.out, save: o.save });
      for (const r of results) {
        if (o.json) console.log(JSON.stringify(r));
        else console.log(`${r.image}: ${r.name} (class ${r.class}, ${(r.probability * 100).toFixed(1)}%)\n${r.files.map((f) => `  ${o.out}/${f}`).join('\n')}`);
      }
    });

  modelOptions(program.command('units'), 'one')
    .description("each unit's strongest images over a data split, cut to the unit's receptive field, one row per unit (Zeiler & Fergus's Figure 2)")
    .requiredOption('--out <file>', 'the grid, a PNG')
    .option('--layer <name>', 'a conv (or fc) layer', 'conv5')
    .option('--k <n>', 'images per unit', positiveInt('--k'), 9)
    .option('--units <list>', 'which units, e.g. 0-15 or 3,7,12 (default: the first 16)', unitList)
    .option('--split <name>', 'train or test', oneOf('--split', ['train', 'test'] as const), 'test')
    .option('--limit <n>', 'the first n images of the split only', positiveInt('--limit'))
    .option(...dataOption)
    .option('--batch <n>', 'images per forward pass', positiveInt('--batch'), 64)
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--json', 'one JSON object per unit')
    .action(async (o) => {
      const model = await oneModel('units', o);
      await checkOutputFile('--out', o.out, { inputs: [model.weightsPath], folders: await usedFolders(model) });
      const backend = await selectBackend(o.backend, notice, { cpu: cpuOptions(o) });
      const t = await runUnits(model, backend, { layer: o.layer, k: o.k, units: o.units, split: o.split, limit: o.limit, batch: o.batch, out: o.out });
      if (o.json) t.units.forEach((unit, i) => console.log(JSON.stringify({ layer: t.layer, unit, top: t.top[i] })));
      else console.log(`wrote the ${o.k} strongest of ${t.images} ${o.split} images for ${t.units.length} ${t.layer} units to ${o.out}`);
    });
}
