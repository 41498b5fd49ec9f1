import type { ComputeBackend } from '../../src/compute/backend';
import type { TrainerJobManifest } from '../../src/training/job';

/** A backend that runs nothing: it records each launched manifest and reports the job done at once. */
export function recordingBackend(): { backend: ComputeBackend; manifests: TrainerJobManifest[] } {
  const manifests: TrainerJobManifest[] = [];
  const backend: ComputeBackend = {
    name: 'fake',
    provision: async (jobId) => ({ backend: 'fake', machineId: jobId, details: {} }),
    launch: async (_m, manifest) => void manifests.push(manifest),
    poll: async () => ({
      state: 'exited',
      exitCode: 0,
      nextCursor: 1,
      events: [{ event: 'done', outputUri: 'file:///out', metrics: {} }],
    }),
    cancel: async () => undefined,
    release: async () => undefined,
  };
  return { backend, manifests };
}
