import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../util/project-paths';

/**
 * Input files a workflow names are read by the worker, so a path in the input could read any file the
 * worker's user can (`../../etc/passwd`, `/home/worker/.aws/credentials`, a link to either). The worker reads
 * inputs only under the project folder and the folders of MSM_DATA_DIR (several: separated like PATH).
 */
export const DATA_DIR_VARIABLE = 'MSM_DATA_DIR';

/** The folders inputs may be read from, absolute: the project first. */
export function dataRoots(env: NodeJS.ProcessEnv = process.env, projectRoot = PROJECT_ROOT): string[] {
  const extra = (env[DATA_DIR_VARIABLE] ?? '').split(path.delimiter).filter(Boolean);
  return [projectRoot, ...extra].map((d) => path.resolve(d));
}

const within = (root: string, p: string) => {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

/** The folder itself and, when it exists, where its links lead: a root reached through a link is the same root. */
const realOrSelf = (p: string) => (existsSync(p) ? realpathSync(p) : p);

/**
 * Why the worker may not read `file` (undefined: it may): outside every root as written, or a link (the
 * file or a folder on its way) that leads outside. A file that does not exist is left to the read to report.
 */
export function inputPathProblem(field: string, file: string, roots = dataRoots()): string | undefined {
  const abs = path.resolve(file);
  const fix =
    `move the file under ${roots[0]}, or set ${DATA_DIR_VARIABLE} in the environment of every worker to the ` +
    `folder that holds it (several: separated by "${path.delimiter}")`;
  const allowed = roots.flatMap((r) => [r, realOrSelf(r)]);
  if (!allowed.some((r) => within(r, abs)))
    return `${field}: ${abs} is outside the folders the workers read inputs from (${roots.join(', ')}); ${fix}`;
  if (!existsSync(abs)) return undefined;
  const real = realpathSync(abs);
  if (!roots.map(realOrSelf).some((r) => within(r, real)))
    return `${field}: ${abs} is a link to ${real}, outside the folders the workers read inputs from (${roots.join(', ')}); ${fix}`;
  return undefined;
}
