// Error classes. Each message says what was expected and what was found; the CLI prints
// `message` on one line and exits 1, so messages never need a stack to be understood.

export class AlexNetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A tensor or layer had the wrong shape. */
export class ShapeError extends AlexNetError {}

/** A file from outside (weights, datasets) is malformed. Always names the file. */
export class FormatError extends AlexNetError {
  constructor(
    readonly file: string,
    readonly fault: string,
  ) {
    super(`${file}: ${fault}`);
  }
}

/** A dataset could not be found or used. */
export class DataError extends AlexNetError {}

/** The user asked for something that cannot be done (bad flag value, unknown name). */
export class UsageError extends AlexNetError {}

/** Training diverged or otherwise cannot go on. */
export class TrainingError extends AlexNetError {}
