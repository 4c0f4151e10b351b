// Kubernetes: a sweep as one Indexed Job (batch/v1, completionMode Indexed). Pod i runs
// `alexnet sweep task MOUNT i`, i being the pod's completion index, with the sweep directory
// on a PersistentVolumeClaim that every pod mounts. Written as JSON, which kubectl reads as it
// reads YAML. A failed pod is replaced by a new one (restartPolicy Never), which resumes its run.
import { UsageError } from '../core/errors.js';
import type { K8sOptions } from './spec.js';

/** Where the claim is mounted when the spec does not say. */
export const DEFAULT_MOUNT = '/sweep';

/** A Job name Kubernetes accepts (lowercase letters, digits, '-'; short enough for pod names). */
export function jobName(base: string): string {
  const name = base.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40).replace(/-+$/, '');
  return name === '' ? 'alexnet-sweep' : `alexnet-sweep-${name}`;
}

export interface ManifestInput {
  name: string;
  runs: number;
  options: K8sOptions;
}

/** The Job object (kubectl apply -f sweep-job.json). Needs the image and the claim. */
export function indexedJob({ name, runs, options: o }: ManifestInput): object {
  const missing = (['image', 'claim'] as const).filter((k) => o[k] === undefined);
  if (missing.length > 0) {
    throw new UsageError(
      `--emit k8s needs ${missing.map((k) => `k8s.${k} in the spec or --${k}`).join(' and ')} ` +
        '(a container image with node and alexnet on its PATH; a PersistentVolumeClaim every pod mounts)',
    );
  }
  const mount = o.mount ?? DEFAULT_MOUNT;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, ...(o.namespace ? { namespace: o.namespace } : {}), labels: { app: 'alexnet-sweep' } },
    spec: {
      completionMode: 'Indexed',
      completions: runs,
      parallelism: Math.min(o.parallelism ?? runs, runs),
      // Pod failures allowed over the whole Job before it is marked failed: two per run.
      backoffLimit: 2 * runs,
      template: {
        metadata: { labels: { app: 'alexnet-sweep', 'alexnet-sweep': name } },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'train',
              image: o.image,
              workingDir: mount,
              // The index is the pod's annotation; Kubernetes expands $(VAR) from the env below.
              env: [{ name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } }],
              command: ['alexnet', 'sweep', 'task', mount, '$(JOB_COMPLETION_INDEX)'],
              volumeMounts: [{ name: 'sweep', mountPath: mount }],
              ...(o.gpus ? { resources: { limits: { 'nvidia.com/gpu': o.gpus } } } : {}),
            },
          ],
          volumes: [{ name: 'sweep', persistentVolumeClaim: { claimName: o.claim } }],
        },
      },
    },
  };
}
