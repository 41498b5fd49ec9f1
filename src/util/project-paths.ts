import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The msm checkout: relative experiment paths resolve against it. */
export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
/** Local state of this checkout: the dev server's database, the default artifact store, compute jobs. */
export const STATE_DIR = process.env.MSM_STATE_DIR ?? path.join(PROJECT_ROOT, '.msm');
/** Installed tools and the local model, shared by every checkout on the machine (cheap cache). */
export const CACHE_DIR = process.env.MSM_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'msm');
export const TOOLS_DIR = process.env.MSM_TOOLS_DIR ?? path.join(CACHE_DIR, 'tools');

/** The trainer's interpreter: $MSM_PYTHON, else the venv made by scripts/setup.sh, else python3. */
export function pythonExecutable(): string {
  if (process.env.MSM_PYTHON) return process.env.MSM_PYTHON;
  const venv = path.join(PROJECT_ROOT, '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}
