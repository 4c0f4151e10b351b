// Parsers for the values a person types: an option on the command line (src/cli/options.ts)
// or a field of the page (web/ui/settings.ts), with the same message in both. Each failure
// names the option and what was expected, and quotes what was found. No Node imports: the page
// bundles this file.
import { MAX_SEED } from '../rng/hash.js';
import { UsageError } from './errors.js';

export function positiveInt(option: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`${option}: expected a positive integer, found "${value}"`);
    return n;
  };
}

export function nonNegativeInt(option: string, max = Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > max) throw new UsageError(`${option}: expected an integer ${max < Infinity ? `from 0 to ${max}` : '>= 0'}, found "${value}"`);
    return n;
  };
}

export function finiteNumber(option: string, min = -Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min) {
      throw new UsageError(`${option}: expected a number${min > -Infinity ? ` >= ${min}` : ''}, found "${value}"`);
    }
    return n;
  };
}

/** A number in [0, 1), such as a momentum (1 or more never forgets a gradient; the steps grow without bound). */
export function fraction(option: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !(n >= 0 && n < 1)) throw new UsageError(`${option}: expected a number from 0 up to (not including) 1, found "${value}"`);
    return n;
  };
}

/** A finite number > 0 (a factor that 0 would silently erase, such as --input-scale or --lr). */
export function positiveNumber(option: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`${option}: expected a number > 0, found "${value}"`);
    return n;
  };
}

export function oneOf<T extends string>(option: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!choices.includes(value as T)) throw new UsageError(`${option}: expected one of ${choices.join(', ')}, found "${value}"`);
    return value as T;
  };
}

/** A seed, as the CLI's --seed and the page's Seed field take it: 0 to 2^32 - 1 (larger ones wrapped, so two seeds trained one run). */
export const seedValue = nonNegativeInt('--seed', MAX_SEED);
