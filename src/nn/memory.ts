// What a net takes in memory at a batch, found before anything is allocated, and the check that
// a run's devices fit the machine: CPU devices share its memory and its cores. Before, `--devices
// 64` or a batch of millions on the CPU backends ran the machine out of memory (or started
// thousands of threads) instead of saying no.
import type { Backend, Tensor } from '../backend/backend.js';
import { UsageError } from '../core/errors.js';
import type { Architecture } from './layers.js';
import { Net } from './net.js';

/**
 * Bytes of a Net's arena for `arch` at `batch` (parameters, gradients, momenta, activations):
 * the Net is built on a stand-in backend that only counts what it is asked to allocate.
 */
export function netBytes(arch: Architecture, batch: number): number {
  let floats = 0;
  const counter: Pick<Backend, 'name' | 'allocate' | 'view'> = {
    name: 'cpu',
    allocate: (label: string, size: number): Tensor => {
      floats += size;
      return { label, size };
    },
    view: (_tensor: Tensor, _offset: number, size: number, label: string): Tensor => ({ label, size }),
  };
  new Net(counter as unknown as Backend, arch, batch);
  return 4 * floats;
}

/** The machine a run's CPU devices share. */
export interface Machine {
  cores: number;
  /** Bytes of memory. */
  memory: number;
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/**
 * Refuses, before any work, CPU devices that the machine cannot hold: more devices than cores,
 * or nets (one replica per device at its slice of `batch`; the towers split one net) whose
 * memory together is over the machine's. GPUs report their own allocation failures (net.ts).
 */
export function checkDevicesFit(arch: Architecture, batch: number, backends: readonly Backend[], towers: boolean, machine: Machine): void {
  if (backends[0].name !== 'cpu') return;
  const devices = backends.length;
  if (devices > machine.cores) {
    throw new UsageError(`--devices ${devices}: more CPU devices than the ${machine.cores} cores of this machine (each is a pool of threads of its own); at most ${machine.cores}`);
  }
  const each = towers ? netBytes(arch, batch) / devices : netBytes(arch, Math.ceil(batch / devices));
  const total = each * devices;
  if (total > machine.memory) {
    const split = devices > 1 ? ` (${devices} devices x ${gib(each)})` : '';
    throw new UsageError(
      `--batch ${batch}: the ${arch.name} net needs ${gib(total)}${split} at this batch, more than the ${gib(machine.memory)} of memory ` +
        `this machine has; lower --batch${devices > 1 ? ' or --devices' : ''}`,
    );
  }
}
