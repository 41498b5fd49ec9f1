import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { runCommand } from './shell';

/** The folder holding the msm_trainer package in this checkout. */
export const DEFAULT_TRAINER_DIR = path.resolve(__dirname, '..', '..', 'trainer');

/**
 * The trainer as shipped to a remote machine: the msm_trainer package and its requirements, named by a
 * hash of their content so a machine receives it again only when it changed.
 */
export interface TrainerBundle {
  /** 16 hex digits of sha256 over (path, content) of every file. */
  hash: string;
  files: string[];
}

async function packageFiles(trainerDir: string): Promise<string[]> {
  const entries = await fs.readdir(path.join(trainerDir, 'msm_trainer'), { recursive: true, withFileTypes: true });
  const py = entries
    // The code and the manifest's JSON Schema (manifest.schema.json) the trainer validates jobs with.
    .filter((e) => e.isFile() && (e.name.endsWith('.py') || e.name.endsWith('.schema.json')))
    .map((e) => path.relative(trainerDir, path.join(e.parentPath, e.name)).split(path.sep).join('/'));
  return ['requirements.txt', ...py].sort();
}

export async function trainerBundle(trainerDir: string): Promise<TrainerBundle> {
  const files = await packageFiles(trainerDir);
  const h = createHash('sha256');
  for (const f of files)
    h.update(
      `${f}\n${createHash('sha256')
        .update(await fs.readFile(path.join(trainerDir, f)))
        .digest('hex')}\n`,
    );
  return { hash: h.digest('hex').slice(0, 16), files };
}

/** A tar stream of exactly the bundle's files. */
export async function trainerTar(trainerDir: string, bundle: TrainerBundle): Promise<Buffer> {
  const r = await runCommand('tar', ['-C', trainerDir, '-cf', '-', ...bundle.files]);
  if (r.code !== 0) throw new Error(`tar of ${trainerDir} failed: ${r.stderr.trim()}`);
  return r.stdout;
}
