import type { ComputeBackend } from '../../src/compute/backend';
import type { TrainerJobManifest } from '../../src/training/job';
import { checkTrainerManifest } from '../../src/training/manifest-schema';

/** A backend that runs nothing: it records each launched manifest and reports the job done at once. */
export function recordingBackend(): { backend: ComputeBackend; manifests: TrainerJobManifest[] } {
  const manifests: TrainerJobManifest[] = [];
  const backend: ComputeBackend = {
    name: 'fake',
    provision: async (jobId) => ({ backend: 'fake', machineId: jobId, details: {} }),
    // A manifest the trainer's schema refuses fails here, as the real backends' launch refuses it.
    launch: async (_m, manifest) => {
      checkTrainerManifest(manifest);
      manifests.push(manifest);
    },
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
