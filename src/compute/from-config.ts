import os from 'node:os';
import path from 'node:path';
import type { Experiment } from '../config/experiment-schema';
import type { ComputeBackend } from './backend';
import { createLocalBackend } from './local';
import { createSshBackend } from './ssh';

export interface BackendPlaces {
  /** Local state: job folders of the local backend, the project's known_hosts. */
  stateDir: string;
  /** The trainer's Python for the local backend. */
  localPython: string;
}

/**
 * One backend per distinct `compute` setting (device aside: it travels in the manifest), kept for the
 * worker's life so an SSH control master serves every job on its host.
 */
export function backendPicker(places: BackendPlaces): (compute: Experiment['compute']) => ComputeBackend {
  const made = new Map<string, ComputeBackend>();
  return (compute) => {
    const { device: _device, ...where } = compute;
    const key = JSON.stringify(where);
    let b = made.get(key);
    if (!b) {
      b =
        where.backend === 'ssh'
          ? createSshBackend({
              ...where,
              identityFile: where.identityFile.replace(/^~(?=\/)/, os.homedir()),
              knownHostsFile: path.join(places.stateDir, 'ssh', 'known_hosts'),
            })
          : createLocalBackend({ workDir: path.join(places.stateDir, 'compute'), python: places.localPython });
      made.set(key, b);
    }
    return b;
  };
}
