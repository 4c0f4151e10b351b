// Top-k accuracy, the paper's measure (it reports errors: 1 - accuracy).

/** Counts rows of logits [N, K] whose label is among the k largest scores (ties count against; a NaN score never counts). */
export function countTopK(logits: ArrayLike<number>, labels: ArrayLike<number>, batch: number, classes: number, k: number): number {
  let hits = 0;
  for (let n = 0; n < batch; n++) {
    const row = n * classes;
    const target = logits[row + labels[n]];
    if (Number.isNaN(target)) continue;
    let above = 0;
    for (let c = 0; c < classes; c++) if (logits[row + c] > target || (logits[row + c] === target && c < labels[n])) above++;
    if (above < k) hits++;
  }
  return hits;
}
