// Typed fields checked with the command line's parsers (src/core/values.ts): a bad value gets
// the message `alexnet train` gives for it, under the field (`errorId`), the field is marked
// invalid for screen readers, and the first bad one takes the focus.
import { $ } from './dom.js';

type Field = HTMLInputElement | HTMLSelectElement;

/** Shows `message` under `input` (its element `errorId`), or clears it (null). */
export function setFieldError(input: Field, errorId: string, message: string | null): void {
  const error = $(errorId);
  error.textContent = message ?? '';
  error.hidden = message === null;
  if (message === null) input.removeAttribute('aria-invalid');
  else input.setAttribute('aria-invalid', 'true');
}

/** The fields `parsers` names, parsed; null after marking each bad one with its message. */
export function checkedValues<K extends string>(field: (name: K) => Field, parsers: Record<K, (v: string) => number>, errorId: (name: K) => string): Record<K, number> | null {
  const values: Partial<Record<K, number>> = {};
  let first: Field | null = null;
  for (const [name, parse] of Object.entries(parsers) as [K, (v: string) => number][]) {
    try {
      values[name] = parse(field(name).value);
      setFieldError(field(name), errorId(name), null);
    } catch (err) {
      setFieldError(field(name), errorId(name), (err as Error).message);
      first ??= field(name);
    }
  }
  first?.focus();
  return first ? null : (values as Record<K, number>);
}
