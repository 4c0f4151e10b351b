// Compiled kernels: WGSL composed from its files -> pipeline with an explicit bind-group layout
// (`layout: 'auto'` would drop bindings a variant does not use), cached by final source, with
// layouts shared between kernels that bind alike.
import type { Kernel } from './resources.js';
import { composeShader, formatCompilationMessages, type KernelSpec } from './shaders.js';

const SHADER_STAGE_COMPUTE = 4;

export class KernelCache {
  private readonly kernels = new Map<string, Kernel>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();

  /**
   * `pending` receives each compilation check (it resolves once the compiler has answered);
   * `fail` is told the first error, with file:line:column of the original sources.
   */
  constructor(
    private readonly device: GPUDevice,
    private readonly pending: (check: Promise<void>) => void,
    private readonly fail: (message: string) => void,
  ) {}

  get size(): number {
    return this.kernels.size;
  }

  get(op: string, spec: KernelSpec): Kernel {
    const shader = composeShader(spec);
    const cached = this.kernels.get(shader.source);
    if (cached) return cached;
    const name = spec.files[spec.files.length - 1];
    const entries: GPUBindGroupLayoutEntry[] = shader.bindings.map((b) => ({
      binding: b.binding,
      visibility: SHADER_STAGE_COMPUTE,
      buffer: { type: b.kind === 'uniform' ? 'uniform' : b.kind === 'read' ? 'read-only-storage' : 'storage' },
    }));
    const layoutKey = shader.bindings.map((b) => `${b.binding}:${b.kind}`).join(',');
    let layout = this.layouts.get(layoutKey);
    if (!layout) {
      layout = this.device.createBindGroupLayout({ label: `layout ${layoutKey}`, entries });
      this.layouts.set(layoutKey, layout);
    }
    const label = `${op} [${spec.files.join('+')}${spec.consts ? ` ${Object.entries(spec.consts).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}]`;
    const module = this.device.createShaderModule({ label, code: shader.source });
    this.pending(
      module.getCompilationInfo().then(
        (info) => {
          if (info.messages.some((m) => m.type === 'error')) this.fail(formatCompilationMessages(op, shader, info.messages));
        },
        () => undefined,
      ),
    );
    const pipeline = this.device.createComputePipeline({
      label,
      layout: this.device.createPipelineLayout({ label, bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    const kernel: Kernel = { name, shader, pipeline, layout, layoutKey };
    this.kernels.set(shader.source, kernel);
    return kernel;
  }

  clear(): void {
    this.kernels.clear();
    this.layouts.clear();
  }
}
