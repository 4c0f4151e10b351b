// Training output: a progress bar with loss, img/s and ETA on a terminal; JSON lines with
// --json; plain per-epoch lines otherwise (logs, pipes).
import cliProgress from 'cli-progress';
import type { TrainEvent } from '../train/loop.js';

export function trainReporter(json: boolean, logSteps = false): (e: TrainEvent) => void {
  if (json) {
    return (e) => {
      if (e.event === 'notice') process.stderr.write(`${e.message}\n`);
      else if (e.event !== 'step' || logSteps) process.stdout.write(JSON.stringify(e) + '\n');
    };
  }
  const tty = process.stderr.isTTY;
  let bar: cliProgress.SingleBar | null = null;
  return (e) => {
    switch (e.event) {
      case 'notice':
        process.stderr.write(`${e.message}\n`);
        break;
      case 'start':
        console.log(
          `training ${e.arch} (${(e.parameters / 1e6).toFixed(2)} M parameters) on ${e.data}: ${e.train} train / ${e.val} val / ${e.test} test images`,
        );
        console.log(`data: ${e.origin}`);
        console.log(`backend: ${e.backend}, ${e.precision === 'mixed' ? 'mixed precision (float16 GEMM operands), ' : ''}${(e.memory_bytes / 2 ** 20).toFixed(1)} MiB planned`);
        break;
      case 'step':
        if (!tty) break;
        if (!bar) {
          bar = new cliProgress.SingleBar(
            { format: 'epoch {epoch} [{bar}] {value}/{total} loss {loss} {speed} img/s ETA {eta_formatted}', stream: process.stderr },
            cliProgress.Presets.shades_classic,
          );
          bar.start(e.steps, 0, { epoch: e.epoch, loss: '-', speed: '-' });
        }
        bar.update(e.step, { epoch: e.epoch, loss: e.loss.toFixed(4), speed: e.img_per_s.toFixed(0) });
        break;
      case 'epoch':
        bar?.stop();
        bar = null;
        console.log(
          `epoch ${e.epoch}: train loss ${e.train_loss.toFixed(4)}, val top-1 ${(e.val_top1 * 100).toFixed(2)}%, ` +
            `top-5 ${(e.val_top5 * 100).toFixed(2)}%, ${e.img_per_s.toFixed(0)} img/s, ${e.seconds.toFixed(1)} s` +
            (e.loss_scale !== undefined ? `, ${e.skipped_steps} step(s) skipped for overflow, loss scale ${e.loss_scale}` : ''),
        );
        break;
      case 'done':
        console.log(
          `test top-1 ${(e.test_top1 * 100).toFixed(2)}%, top-5 ${(e.test_top5 * 100).toFixed(2)}% on ${e.test_n} images ` +
            `(${e.seconds.toFixed(1)} s in all); checkpoint: ${e.checkpoint}` + (e.report ? `\nreport: ${e.report}` : ''),
        );
        break;
    }
  };
}
