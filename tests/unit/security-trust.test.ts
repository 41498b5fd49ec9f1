import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createExperimentActivities } from '../../src/activities/experiment-activities';
import { ComputeConfigError } from '../../src/compute/backend';
import { backendPicker } from '../../src/compute/from-config';
import { parseExperiment } from '../../src/config/experiment-schema';
import { createProvider } from '../../src/llm/create-provider';
import { embedTexts } from '../../src/llm/embeddings';
import { LlmError } from '../../src/llm/provider';
import { allowlists, hostProblem, keyEnvProblem } from '../../src/security/allowlist';
import { trustProblems } from '../../src/security/experiment-trust';
import { machineProblem } from '../../src/security/machines';
import { dataRoots, inputPathProblem } from '../../src/security/paths';
import { credentialHosts, remoteCredentialsProblem } from '../../src/security/remote-credentials';
import { demoExperiment } from '../helpers/demo-experiment';

const defaults = allowlists({});

describe('API-key variables an experiment may name', () => {
  it('the documented defaults are allowed, anything else is refused with the fix', () => {
    for (const v of ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'RUNPOD_API_KEY'])
      expect(keyEnvProblem('f', v, defaults)).toBe(undefined);
    const p = keyEnvProblem('eval.judge.apiKeyEnv', 'AWS_SECRET_ACCESS_KEY', defaults);
    expect(p).toMatch(/^eval\.judge\.apiKeyEnv: the workers do not read API keys from AWS_SECRET_ACCESS_KEY;/);
    expect(p).toMatch(/add it to MSM_ALLOWED_KEY_ENVS \(comma-separated\) in the environment of every worker/);
    expect(keyEnvProblem('f', 'TEMPORAL_API_KEY', defaults)).toBeDefined();
  });

  it('MSM_ALLOWED_KEY_ENVS adds names, and prefixes with a final *', () => {
    const lists = allowlists({ MSM_ALLOWED_KEY_ENVS: 'TOGETHER_API_KEY, LAB_*' });
    expect(keyEnvProblem('f', 'TOGETHER_API_KEY', lists)).toBe(undefined);
    expect(keyEnvProblem('f', 'LAB_JUDGE', lists)).toBe(undefined);
    expect(keyEnvProblem('f', 'XLAB_JUDGE', lists)).toBeDefined();
  });
});

describe('provider hosts an experiment may call', () => {
  it('the providers msm speaks and loopback (any port) are allowed; another host is refused with the fix', () => {
    for (const url of [
      'https://api.openai.com/v1',
      'https://api.anthropic.com',
      'https://api.runpod.io/v2',
      'http://127.0.0.1:8000/v1',
      'http://localhost:9/v1',
      'http://[::1]:8080/v1',
    ])
      expect(hostProblem('f', url, defaults)).toBe(undefined);
    const p = hostProblem('eval.judge.baseUrl', 'https://collector.example/v1', defaults);
    expect(p).toMatch(/^eval\.judge\.baseUrl: the workers do not call collector\.example/);
    expect(p).toMatch(/add it to MSM_ALLOWED_HOSTS/);
    // Look-alikes are other hosts.
    expect(hostProblem('f', 'https://api.openai.com.evil.example/v1', defaults)).toBeDefined();
    expect(hostProblem('f', 'https://169.254.169.254/latest', defaults)).toBeDefined();
    expect(hostProblem('f', 'ftp://127.0.0.1/x', defaults)).toMatch(/not an http\(s\) URL/);
  });

  it('MSM_ALLOWED_HOSTS adds hosts, subdomains with *. and one port with host:port', () => {
    const lists = allowlists({ MSM_ALLOWED_HOSTS: '*.lab.example,vllm.internal:8000' });
    expect(hostProblem('f', 'https://gpu1.lab.example/v1', lists)).toBe(undefined);
    expect(hostProblem('f', 'https://lab.example/v1', lists)).toBeDefined();
    expect(hostProblem('f', 'http://vllm.internal:8000/v1', lists)).toBe(undefined);
    expect(hostProblem('f', 'http://vllm.internal:8001/v1', lists)).toBeDefined();
  });

  it('a leading - takes a default away: loopback on a shared machine, a provider not used', () => {
    const lists = allowlists({
      MSM_ALLOWED_HOSTS: '-localhost,-127.0.0.1,-::1',
      MSM_ALLOWED_KEY_ENVS: '-RUNPOD_API_KEY',
    });
    expect(hostProblem('f', 'http://127.0.0.1:8000/v1', lists)).toBeDefined();
    expect(hostProblem('f', 'https://api.openai.com/v1', lists)).toBe(undefined);
    expect(keyEnvProblem('f', 'RUNPOD_API_KEY', lists)).toBeDefined();
  });
});

describe('input paths', () => {
  const project = mkdtempSync(path.join(os.tmpdir(), 'msm-trust-project-'));
  const data = mkdtempSync(path.join(os.tmpdir(), 'msm-trust-data-'));
  mkdirSync(path.join(project, 'specs'));
  writeFileSync(path.join(project, 'specs', 'mine.md'), '# x\n');
  writeFileSync(path.join(data, 'aft.jsonl'), '{}\n');
  symlinkSync('/etc/hostname', path.join(project, 'specs', 'escape.md'));
  symlinkSync(data, path.join(project, 'data-link'));
  const roots = [project];

  it('inside the project: allowed (a missing file is left to the read to report)', () => {
    expect(inputPathProblem('spec', path.join(project, 'specs', 'mine.md'), roots)).toBe(undefined);
    expect(inputPathProblem('spec', path.join(project, 'specs', 'missing.md'), roots)).toBe(undefined);
  });

  it('../ out of the project, an absolute path elsewhere and a link leading out are refused with the fix', () => {
    const up = inputPathProblem('spec', path.resolve(project, '../../etc/passwd'), roots);
    expect(up).toMatch(/^spec: \/etc\/passwd is outside the folders the workers read inputs from/);
    expect(up).toMatch(/set MSM_DATA_DIR in the environment of every worker/);
    expect(inputPathProblem('aft.data', '/etc/passwd', roots)).toMatch(/^aft\.data: \/etc\/passwd is outside/);
    expect(inputPathProblem('spec', path.join(project, 'specs', 'escape.md'), roots)).toMatch(
      /escape\.md is a link to \/etc\/hostname, outside the folders/,
    );
    expect(inputPathProblem('aft.data', path.join(project, 'data-link', 'aft.jsonl'), roots)).toMatch(/is a link to/);
  });

  it('MSM_DATA_DIR adds folders (the link into one is then fine)', () => {
    const both = dataRoots({ MSM_DATA_DIR: data }, project);
    expect(both).toEqual([project, data]);
    expect(inputPathProblem('aft.data', path.join(data, 'aft.jsonl'), both)).toBe(undefined);
    expect(inputPathProblem('aft.data', path.join(project, 'data-link', 'aft.jsonl'), both)).toBe(undefined);
  });
});

describe('store credentials for remote hosts', () => {
  it('none by default; MSM_REMOTE_STORE_CREDENTIALS names hosts (or * / 1 for any)', () => {
    expect(credentialHosts({})).toEqual([]);
    expect(credentialHosts({ MSM_REMOTE_STORE_CREDENTIALS: '1' })).toEqual(['*']);
    expect(credentialHosts({ MSM_REMOTE_STORE_CREDENTIALS: 'gpu1, runpod' })).toEqual(['gpu1', 'runpod']);
    const p = remoteCredentialsProblem('compute.forwardStoreCredentials', ['gpu1', 'gpu2'], {
      MSM_REMOTE_STORE_CREDENTIALS: 'gpu1',
    });
    expect(p).toMatch(/do not send their own S3 credentials to gpu2\./);
    expect(p).toMatch(/MSM_REMOTE_STORE_CREDENTIALS=gpu2/);
    expect(remoteCredentialsProblem('f', ['gpu2'], { MSM_REMOTE_STORE_CREDENTIALS: '*' })).toBe(undefined);
  });
});

describe('machines a worker runs jobs on', () => {
  const ssh = (hosts: string[]) =>
    parseExperiment({
      ...demoExperiment('m'),
      compute: { backend: 'ssh', host: hosts[0], hosts, user: 'u', identityFile: '~/.ssh/id_ed25519' },
    }).compute;
  const pod = (image: string) =>
    parseExperiment({
      ...demoExperiment('m'),
      compute: { backend: 'runpod', gpuType: 'NVIDIA H100 80GB HBM3', image, identityFile: '~/.ssh/id_ed25519' },
    }).compute;

  it('any ssh host and image while the operator sets no list; with MSM_ALLOWED_SSH_HOSTS only those hosts', () => {
    expect(machineProblem(ssh(['gpu9', 'gpu10:2222']), {})).toBe(undefined);
    const env = { MSM_ALLOWED_SSH_HOSTS: 'gpu1, *.lab.example' };
    expect(machineProblem(ssh(['gpu1', 'node3.lab.example:2222']), env)).toBe(undefined);
    const p = machineProblem(ssh(['gpu9', 'lab.example']), env);
    expect(p).toMatch(
      /^compute: the workers do not run jobs on gpu9, lab\.example; the ssh hosts they use are gpu1, \*\.lab\.example\./,
    );
    expect(p).toMatch(/add the host to MSM_ALLOWED_SSH_HOSTS/);
  });

  it('with MSM_ALLOWED_RUNPOD_IMAGES only those images (a final * matches any tag)', () => {
    const env = { MSM_ALLOWED_RUNPOD_IMAGES: 'runpod/pytorch:2.4*' };
    expect(machineProblem(pod('runpod/pytorch:2.4.0-py3.11-cuda12.4.1'), env)).toBe(undefined);
    expect(machineProblem(pod('someone/miner:latest'), env)).toMatch(
      /^compute\.image: the workers do not rent pods with someone\/miner:latest/,
    );
    expect(machineProblem(pod('someone/miner:latest'), {})).toBe(undefined);
  });

  it('validation lists it with the other problems, and the backend refuses before connecting', async () => {
    const x = parseExperiment({
      ...demoExperiment('m'),
      compute: { backend: 'ssh', host: 'gpu9', user: 'u', identityFile: '~/.ssh/id_ed25519' },
    });
    expect(trustProblems(x, defaults, { MSM_ALLOWED_SSH_HOSTS: 'gpu1' })).toEqual([
      expect.stringMatching(/^compute: the workers do not run jobs on gpu9/),
    ]);
    process.env.MSM_ALLOWED_SSH_HOSTS = 'gpu1';
    try {
      const backend = backendPicker({ stateDir: os.tmpdir(), localPython: 'python3' })(x.compute);
      await expect(backend.provision('job')).rejects.toThrow(ComputeConfigError);
      await expect(backend.provision('job')).rejects.toThrow(/do not run jobs on gpu9/);
    } finally {
      delete process.env.MSM_ALLOWED_SSH_HOSTS;
    }
  });
});

describe('the checks an experiment gets', () => {
  const hostile = {
    ...demoExperiment('hostile'),
    eval: {
      prompts: 'experiments/data/demo-eval.jsonl',
      judge: {
        kind: 'openai',
        baseUrl: 'https://collector.example/v1',
        model: 'j',
        apiKeyEnv: 'AWS_SECRET_ACCESS_KEY',
      },
    },
    compute: {
      backend: 'ssh',
      host: 'gpu9',
      user: 'u',
      identityFile: '~/.ssh/id_ed25519',
      forwardStoreCredentials: true,
    },
  };

  it('trustProblems lists the key variable, the host and the credentials asked for', () => {
    const problems = trustProblems(parseExperiment(hostile), defaults, {});
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^eval\.judge\.apiKeyEnv: .*AWS_SECRET_ACCESS_KEY/);
    expect(problems[1]).toMatch(/^compute\.forwardStoreCredentials: .*to gpu9/);
    const hostOnly = { ...hostile.eval.judge, apiKeyEnv: undefined };
    expect(
      trustProblems(parseExperiment({ ...hostile, eval: { ...hostile.eval, judge: hostOnly } }), defaults, {})[0],
    ).toMatch(/^eval\.judge\.baseUrl: the workers do not call collector\.example/);
  });

  it('trustProblems checks the serving engine (eval.engine) like every other endpoint', () => {
    const withEngine = (engine: Record<string, unknown>) =>
      trustProblems(
        parseExperiment({
          ...demoExperiment('engine'),
          eval: { prompts: 'e.jsonl', engine: { kind: 'openai', ...engine } },
        }),
        defaults,
        {},
      );
    expect(withEngine({ baseUrl: 'http://127.0.0.1:8000/v1' })).toEqual([]);
    expect(withEngine({ baseUrl: 'https://collector.example/v1' })).toEqual([
      expect.stringMatching(/^eval\.engine\.baseUrl: the workers do not call collector\.example/),
    ]);
    expect(withEngine({ baseUrl: 'http://127.0.0.1:8000/v1', apiKeyEnv: 'AWS_SECRET_ACCESS_KEY' })).toEqual([
      expect.stringMatching(/^eval\.engine\.apiKeyEnv: the workers do not read API keys from AWS_SECRET_ACCESS_KEY/),
    ]);
  });

  it('loadExperiment refuses them, and a spec outside the project, as non-retryable bad input', async () => {
    const load = (raw: unknown) =>
      new MockActivityEnvironment().run(createExperimentActivities().loadExperiment, raw).then(
        () => undefined,
        (e: unknown) => e as ApplicationFailure,
      );
    const refused = await load({ ...hostile, spec: '../../../../../../etc/passwd' });
    expect(refused).toBeInstanceOf(ApplicationFailure);
    expect(refused!.nonRetryable).toBe(true);
    expect(refused!.message).toMatch(
      /eval\.judge\.apiKeyEnv: the workers do not read API keys from AWS_SECRET_ACCESS_KEY/,
    );
    expect(refused!.message).toMatch(/compute\.forwardStoreCredentials/);
    expect(refused!.message).toMatch(/spec: \/etc\/passwd is outside the folders the workers read inputs from/);
  }, 60_000);

  it('the RunPod backend refuses a key variable off the list before any RunPod call', async () => {
    const compute = {
      backend: 'runpod',
      gpuType: 'NVIDIA H100 80GB HBM3',
      image: 'runpod/pytorch',
      identityFile: '~/.ssh/id_ed25519',
      apiKeyEnv: 'AWS_SECRET_ACCESS_KEY',
    };
    const x = parseExperiment({ ...demoExperiment('rp'), compute });
    const backend = backendPicker({ stateDir: os.tmpdir(), localPython: 'python3' })(x.compute);
    const refused = backend.provision('job');
    await expect(refused).rejects.toThrow(ComputeConfigError);
    await expect(refused).rejects.toThrow(
      /^compute\.apiKeyEnv: the workers do not read API keys from AWS_SECRET_ACCESS_KEY/,
    );
    await expect(backend.releaseJob!('job')).rejects.toThrow(ComputeConfigError);
  });

  it('the LLM layer refuses them too, before reading the variable or sending anything', async () => {
    process.env.MSM_TRUST_TEST_SECRET = 'not-to-be-read';
    const fail = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: unknown) => e as LlmError,
      );
    const key = await fail(
      createProvider(
        { kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', model: 'm', apiKeyEnv: 'MSM_TRUST_TEST_SECRET' },
        '/x',
      ),
    );
    expect(key).toBeInstanceOf(LlmError);
    expect(key!.retryable).toBe(false);
    expect(key!.message).toMatch(/do not read API keys from MSM_TRUST_TEST_SECRET/);
    const host = await fail(
      createProvider({ kind: 'anthropic', model: 'm', baseUrl: 'https://collector.example' }, '/x'),
    );
    expect(host!.message).toMatch(/provider\.baseUrl: the workers do not call collector\.example/);
    const embed = await fail(embedTexts({ baseUrl: 'http://10.9.9.9:1/v1', model: 'e', timeoutMs: 100 }, ['a']));
    expect(embed!.retryable).toBe(false);
    expect(embed!.message).toMatch(/^embeddings\.baseUrl: the workers do not call 10\.9\.9\.9/);
    delete process.env.MSM_TRUST_TEST_SECRET;
  });
});
