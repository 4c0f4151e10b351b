// The worker's one way to the page.
import type { FromWorker } from '../protocol.js';

export const post = (m: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

/** A macrotask, so that the page's messages (pause, stop, questions) are read; unlike setTimeout(0), never clamped to 4 ms. */
const channel = new MessageChannel();
const waiting: (() => void)[] = [];
channel.port1.onmessage = () => waiting.shift()?.();
export const yieldToMessages = () =>
  new Promise<void>((resolve) => {
    waiting.push(resolve);
    channel.port2.postMessage(0);
  });
