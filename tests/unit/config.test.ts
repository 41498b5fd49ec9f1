import { readdirSync, readFileSync } from 'node:fs';
import { isSweep, loadSweepFile } from '../../src/sweep/load-sweep-file';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidExperimentError, parseExperiment } from '../../src/config/experiment-schema';
import { fractionLabel, fractionSlug, parseFraction } from '../../src/config/fractions';
import { experimentJsonSchema } from '../../src/config/json-schema';
import { loadExperimentFile, readStructuredFile } from '../../src/experiment/load-experiment-file';

const minimal = { name: 'x', spec: 'specs/demo.md', aft: { data: 'a.jsonl' }, eval: { prompts: 'e.jsonl' } };

describe('experiment schema', () => {
  it('applies the paper defaults in one place', () => {
    const x = parseExperiment(minimal);
    expect(x.midtrain).toMatchObject({
      method: 'lora',
      loraR: 64,
      loraAlpha: 128,
      loraDropout: 0,
      lr: 1e-4,
      warmupRatio: 0.05,
      weightDecay: 0.01,
      epochs: 1,
    });
    expect(x.eval.temperature).toBe(0.7);
    expect(x.aft.arms).toEqual(['baseline', 'msm']);
    expect(x.generation.provider).toEqual({ kind: 'local', contextSize: 4096 });
    expect(x.store).toBe('.msm/artifacts');
  });

  it('accepts fractions as "1/40" or numbers', () => {
    expect(parseExperiment({ ...minimal, aft: { data: 'a', fractions: ['1/1', '1/40', 0.5] } }).aft.fractions).toEqual([
      1, 0.025, 0.5,
    ]);
  });

  it('names every bad field with its path', () => {
    try {
      parseExperiment(
        { ...minimal, name: '', generation: { provider: { kind: 'openai' } }, aft: { data: 'a', fractions: [0] } },
        'f.yaml',
      );
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidExperimentError);
      const msg = (e as Error).message;
      expect(msg).toContain('invalid experiment f.yaml');
      expect(msg).toContain('name:');
      expect(msg).toContain('generation.provider.baseUrl');
      expect(msg).toContain('generation.provider.model');
      expect(msg).toContain('aft.fractions.0: a fraction must be > 0');
    }
  });

  it('says a missing field is required and names a misspelt one', () => {
    expect(() => parseExperiment({ ...minimal, spec: undefined })).toThrow(/spec: required \(string\) but missing/);
    const { eval: _e, ...noEval } = minimal;
    expect(() => parseExperiment({ ...noEval, eval: {}, evall: 1 })).toThrow(
      /eval\.prompts: give the eval set: either "prompts" \(an eval-set JSONL file\) or "inspect"[\s\S]*unknown field\(s\) evall/,
    );
  });

  it('rejects the known evaluation traps in plain words', () => {
    const withEval = (e: Record<string, unknown>) => ({ ...minimal, eval: { ...minimal.eval, ...e } });
    expect(() => parseExperiment(withEval({ temperature: 1 }))).toThrow(
      /eval\.temperature: .*0\.7.*temperatureOverride: true/,
    );
    expect(parseExperiment(withEval({ temperature: 1, temperatureOverride: true })).eval.temperature).toBe(1);
    expect(() => parseExperiment(withEval({ headline: 'action-executed' }))).toThrow(
      /eval\.headline must be "judge-verdict"/,
    );
    expect(parseExperiment(minimal).eval).toMatchObject({ temperature: 0.7, headline: 'judge-verdict' });
  });

  it('pretrained base models need a path', () => {
    expect(() => parseExperiment({ ...minimal, baseModel: { init: 'pretrained' } })).toThrow(
      /baseModel.path: init "pretrained" needs baseModel.path/,
    );
  });

  it('a pretrained path is a local folder or .gguf, s3:// or hf:<org>/<name>[@revision]; gemma3 is a tokenizer family', () => {
    const pretrained = (p: string) =>
      parseExperiment({ ...minimal, baseModel: { init: 'pretrained', tokenizer: 'gemma3', path: p } }).baseModel;
    for (const p of [
      '.msm/models/gemma-3-270m',
      '/m/model.gguf',
      's3://b/models/x',
      'hf:google/gemma-3-270m',
      'hf:google/gemma-3-270m@v1.0',
    ]) {
      expect(pretrained(p)).toMatchObject({ path: p, tokenizer: 'gemma3' });
    }
    expect(() => pretrained('https://huggingface.co/google/gemma-3-270m')).toThrow(
      /baseModel.path: use a Hugging Face model folder .* hf:<org>\/<name>/,
    );
    expect(() => pretrained('hf:gemma-3-270m')).toThrow(
      /baseModel.path: write a Hugging Face Hub model as hf:<org>\/<name>/,
    );
  });

  it('the shipped JSON Schema is the current one (regenerate: bin/msm schema experiments/experiment.schema.json)', () => {
    const shipped = readFileSync(path.join(__dirname, '..', '..', 'experiments', 'experiment.schema.json'), 'utf8');
    expect(shipped).toBe(experimentJsonSchema());
  });

  it('compute: local by default; ssh needs host, user and identityFile, and says what a bad value should be', () => {
    expect(parseExperiment(minimal).compute).toEqual({ backend: 'local', device: 'auto' });
    const ssh = { backend: 'ssh', host: 'gpu1.example.com', user: 'ubuntu', identityFile: '~/.ssh/id_ed25519' };
    expect(parseExperiment({ ...minimal, compute: ssh }).compute).toEqual({
      ...ssh,
      device: 'auto',
      port: 22,
      workDir: 'msm',
      python: 'python3',
      connectTimeoutSec: 10,
    });
    expect(() => parseExperiment({ ...minimal, compute: { backend: 'ssh' } })).toThrow(
      /compute\.host: required \(string\) but missing[\s\S]*compute\.user: required[\s\S]*compute\.identityFile: required/,
    );
    expect(() => parseExperiment({ ...minimal, compute: { backend: 'kubernetes' } })).toThrow(
      /compute\.backend: use "local" \(this machine\), "ssh" \(host, user, identityFile, \.\.\.\) or "runpod"/,
    );
    expect(() => parseExperiment({ ...minimal, compute: { host: 'gpu1' } })).toThrow(
      /compute: unknown field\(s\) host/,
    );
    const bad = {
      ...ssh,
      host: '-oProxyCommand=evil',
      port: 70000,
      identityFile: 'id_ed25519',
      python: 'venv/bin/python',
    };
    try {
      parseExperiment({ ...minimal, compute: bad });
      expect.unreachable();
    } catch (e) {
      const msg = (e as Error).message;
      expect(msg).toContain('compute.host: a host name or IP address');
      expect(msg).toContain('compute.port: a TCP port: 1 to 65535');
      expect(msg).toContain('compute.identityFile: the private key on the worker machine as an absolute path or ~/');
      expect(msg).toContain('compute.python: a command on the host PATH or an absolute path');
    }
  });

  it('compute: runpod needs gpuType, image and identityFile; defaults are explicit; bad values say what to write', () => {
    const runpod = {
      backend: 'runpod',
      gpuType: 'NVIDIA H100 80GB HBM3',
      image: 'runpod/pytorch:2.8.0-py3.11-cuda12.8.1',
      identityFile: '~/.ssh/id_ed25519',
    };
    expect(parseExperiment({ ...minimal, compute: runpod }).compute).toEqual({
      ...runpod,
      device: 'auto',
      apiKeyEnv: 'RUNPOD_API_KEY',
      baseUrl: 'https://api.runpod.io/v2',
      gpuCount: 1,
      cloudType: 'SECURE',
      interruptible: false,
      containerDiskGb: 50,
      user: 'root',
      workDir: 'msm',
      python: 'python3',
      connectTimeoutSec: 10,
      startTimeoutSec: 600,
      statusCheckSec: 30,
      capacityRetrySec: 300,
      stallMinutes: 30,
    });
    expect(() => parseExperiment({ ...minimal, compute: { backend: 'runpod' } })).toThrow(
      /compute\.gpuType: required[\s\S]*compute\.image: required[\s\S]*compute\.identityFile: required/,
    );
    try {
      parseExperiment({
        ...minimal,
        compute: {
          ...runpod,
          apiKeyEnv: 'rp-key=abc',
          pricePerHour: 0,
          gpuCount: 9,
          cloudType: 'SPOT',
          baseUrl: 'api.runpod.io',
        },
      });
      expect.unreachable();
    } catch (e) {
      const msg = (e as Error).message;
      expect(msg).toContain('compute.apiKeyEnv: the name of an environment variable, e.g. RUNPOD_API_KEY');
      expect(msg).toContain('compute.pricePerHour: a price in USD per GPU-hour, > 0');
      expect(msg).toContain('compute.gpuCount: at most 8 GPUs per pod');
      expect(msg).toContain('compute.cloudType');
      expect(msg).toContain('compute.baseUrl: an http(s) URL');
    }
    // RunPod retired REST v1, and v2 rents no spot pods: both say what to write instead.
    expect(() =>
      parseExperiment({ ...minimal, compute: { ...runpod, baseUrl: 'https://example.test/v1', interruptible: true } }),
    ).toThrow(
      /compute\.baseUrl: RunPod retired its REST v1 API: use https:\/\/api\.runpod\.io\/v2[\s\S]*compute\.interruptible: RunPod's REST API v2 rents no interruptible/,
    );
  });

  it('every shipped experiment and sweep file is valid', () => {
    const dir = path.join(__dirname, '..', '..', 'experiments');
    const files = readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f) && !f.endsWith('.schema.json'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    const sweeps = files.filter((f) => isSweep(readStructuredFile(path.join(dir, f))));
    expect(sweeps).toContain('spec-science.yaml');
    for (const f of files) {
      const file = path.join(dir, f);
      expect(() => (sweeps.includes(f) ? loadSweepFile(file) : loadExperimentFile(file)), f).not.toThrow();
    }
  });
});

describe('fractions', () => {
  it('parses, labels and slugs', () => {
    expect(parseFraction('1/40')).toBe(0.025);
    expect(fractionLabel(0.025)).toBe('1/40');
    expect(fractionLabel(1)).toBe('1/1');
    expect(fractionLabel(0.3)).toBe('0.3');
    expect(fractionSlug(1 / 60)).toBe('1of60');
  });
});
