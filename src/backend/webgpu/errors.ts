// GpuError: the WebGPU device failed, was lost, or cannot do what was asked (a binding over the
// adapter's limit, a shader that does not compile). Kept here so that the WebGPU backend owns it;
// it can move to src/core/errors.ts without changing its users' imports of this module.
import { AlexNetError } from '../../core/errors.js';

export class GpuError extends AlexNetError {}
