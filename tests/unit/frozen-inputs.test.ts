import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createExperimentActivities } from '../../src/activities/experiment-activities';
import { createSweepActivities } from '../../src/activities/sweep-activities';
import type { LoadedExperiment } from '../../src/activities/types';
import { freezeExperimentInput, freezeSweepInput } from '../../src/cli/freeze-inputs';
import { checkExperiment } from '../../src/experiment/check-experiment';
import { parseExperiment, type ExperimentInput, type FrozenInputs } from '../../src/config/experiment-schema';
import {
  freezeExperimentFiles,
  frozenInputReader,
  frozenKey,
  inputFiles,
  mergeFrozen,
} from '../../src/config/frozen-inputs';
import { planFromDisk } from '../../src/plan/plan-inputs';
import { openStore } from '../../src/store/open-store';
import { withFrozenBase } from '../../src/sweep/frozen-sweep-inputs';
import type { SweepInput } from '../../src/sweep/sweep-schema';
import { sha256Hex } from '../../src/util/hash';
import { PROJECT_ROOT } from '../../src/util/project-paths';

/** An experiment whose input files live in a folder of their own (its baseDir), with its store there too. */
function project() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-frozen-'));
  mkdirSync(path.join(dir, 'data'));
  const copy = (from: string, to: string) => copyFileSync(path.join(PROJECT_ROOT, from), path.join(dir, to));
  copy('specs/demo.md', 'spec.md');
  copy('experiments/data/demo-aft.jsonl', 'data/aft.jsonl');
  copy('experiments/data/demo-eval.jsonl', 'data/eval.jsonl');
  copy('experiments/data/instruct-mix.jsonl', 'data/mix.jsonl');
  const raw: ExperimentInput = {
    name: 'frozen',
    baseDir: dir,
    store: 'store',
    spec: 'spec.md',
    aft: { data: 'data/aft.jsonl', minExamples: 1, minSteps: 1, mix: { data: 'data/mix.jsonl', ratio: 0.5 } },
    eval: { prompts: 'data/eval.jsonl' },
  };
  const file = (rel: string) => path.join(dir, rel);
  return { dir, raw, file, store: openStore(path.join(dir, 'store')) };
}

const load = (raw: unknown): Promise<LoadedExperiment> =>
  new MockActivityEnvironment().run(createExperimentActivities().loadExperiment, raw);

const badInputOf = async (p: Promise<unknown>): Promise<ApplicationFailure> => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect((err as ApplicationFailure).type).toBe('BadInput');
  expect((err as ApplicationFailure).nonRetryable).toBe(true);
  return err as ApplicationFailure;
};

describe('inputs frozen at start: freezing', () => {
  it('names every input file of the schema, each once, with its field', () => {
    const x = parseExperiment({ ...project().raw, aft: { data: 'a.jsonl', reasoningData: 'r.jsonl' } });
    expect(inputFiles(x)).toEqual([
      { field: 'spec', path: 'spec.md' },
      { field: 'aft.data', path: 'a.jsonl' },
      { field: 'aft.reasoningData', path: 'r.jsonl' },
      { field: 'eval.prompts', path: 'data/eval.jsonl' },
    ]);
  });

  it('puts each file in the store under its sha256; the input carries the hashes', async () => {
    const p = project();
    const frozen = await freezeExperimentInput(p.raw, 'frozen.json');
    const entries = frozen.frozenInputs!;
    expect(Object.keys(entries).sort()).toEqual(['data/aft.jsonl', 'data/eval.jsonl', 'data/mix.jsonl', 'spec.md']);
    for (const [rel, entry] of Object.entries(entries)) {
      const text = readFileSync(p.file(rel), 'utf8');
      expect(entry).toMatchObject({
        sha256: sha256Hex(text),
        size: Buffer.byteLength(text),
        storeUri: p.store.rootUri,
      });
      expect((await p.store.get(frozenKey(entry.sha256))).toString('utf8')).toBe(text);
    }
    // The frozen input is a valid experiment: what the workflow, a schedule's action and the JSON Schema take.
    expect(parseExperiment(frozen).frozenInputs).toEqual(entries);
    expect(JSON.stringify(frozen).length).toBeLessThan(2_000); // hashes, never the files
  });

  it('refuses a file it cannot read before anything starts; a worker freezing a sweep skips it instead', async () => {
    const p = project();
    rmSync(p.file('data/mix.jsonl'));
    await expect(freezeExperimentInput(p.raw, 'frozen.json')).rejects.toThrow(
      /aft\.mix\.data: cannot read .*data\/mix\.jsonl \(ENOENT\); fix the path/,
    );
    const x = parseExperiment(p.raw);
    const skipped = await freezeExperimentFiles(x, p.dir, p.store, { now: new Date(), unreadable: 'skip' });
    expect(Object.keys(skipped)).not.toContain('data/mix.jsonl');
    expect(Object.keys(skipped)).toContain('spec.md');
  });

  it('a store msm start cannot write says so and what to do', async () => {
    const p = project();
    writeFileSync(p.file('not-a-folder'), '');
    await expect(freezeExperimentInput({ ...p.raw, store: 'not-a-folder' }, 'frozen.json')).rejects.toThrow(
      /cannot put the input files in file:\/\/.*not-a-folder: .*give it the store's access/,
    );
  });

  it('one path, one content: points whose baseDir makes the same path two files are refused', () => {
    const a = { sha256: 'a'.repeat(64), size: 1 };
    const b = { sha256: 'b'.repeat(64), size: 1 };
    expect(
      mergeFrozen([
        { id: 'p1', frozen: { 'spec.md': a } },
        { id: 'p2', frozen: { 'spec.md': a } },
      ]),
    ).toEqual({
      'spec.md': a,
    });
    expect(() =>
      mergeFrozen([
        { id: 'p1', frozen: { 'spec.md': a } },
        { id: 'p2', frozen: { 'spec.md': b } },
      ]),
    ).toThrow(/spec\.md names different content in point p1 .* and point p2 .*distinct paths/);
  });

  it("a sweep's base carries every point's files; msm sweep retry re-freezes only its point", async () => {
    const p = project();
    writeFileSync(p.file('spec-b.md'), readFileSync(p.file('spec.md'), 'utf8').replace('# ', '# B '));
    const sweep: SweepInput = {
      name: 'fs',
      base: p.raw,
      axes: { spec: ['spec.md', 'spec-b.md'] },
      include: [],
      exclude: [],
      concurrency: 1,
    };
    const frozen = await freezeSweepInput(sweep);
    const first = frozen.base.frozenInputs!;
    expect(Object.keys(first).sort()).toEqual([
      'data/aft.jsonl',
      'data/eval.jsonl',
      'data/mix.jsonl',
      'spec-b.md',
      'spec.md',
    ]);
    writeFileSync(p.file('spec-b.md'), readFileSync(p.file('spec.md'), 'utf8').replace('# ', '# B2 '));
    const retried = await freezeSweepInput({ ...frozen, only: ['spec-b.md'] }, ['spec-b.md']);
    const second = retried.base.frozenInputs!;
    expect(second['spec-b.md'].sha256).toBe(sha256Hex(readFileSync(p.file('spec-b.md'), 'utf8')));
    expect(second['spec-b.md'].sha256).not.toBe(first['spec-b.md'].sha256);
    expect(second['spec.md']).toEqual(first['spec.md']);
    expect(withFrozenBase(sweep, {}).base.frozenInputs).toEqual({});
  });

  it('the worker freezes a sweep started with paths only: a BadInput for an invalid sweep, never a retry', async () => {
    const p = project();
    const sweep: SweepInput = {
      name: 'fs',
      base: p.raw,
      axes: { spec: ['spec.md'] },
      include: [],
      exclude: [],
      concurrency: 1,
    };
    const activities = createSweepActivities();
    const frozen = (await new MockActivityEnvironment().run(activities.freezeSweepInputs, sweep)) as FrozenInputs;
    expect(frozen['spec.md'].sha256).toBe(sha256Hex(readFileSync(p.file('spec.md'), 'utf8')));
    const bad = { ...sweep, axes: { specVarient: ['rules'] } };
    const f = await badInputOf(new MockActivityEnvironment().run(activities.freezeSweepInputs, bad));
    expect(f.message).toMatch(/unknown field\(s\) specVarient/);
  });
});

describe('inputs frozen at start: the worker reads by hash', () => {
  it('a file changed on the worker after msm start: the run reads the frozen bytes from the store', async () => {
    const p = project();
    const before = await load(p.raw);
    const frozen = await freezeExperimentInput(p.raw, 'frozen.json');
    writeFileSync(p.file('spec.md'), '# Another spec\n\n## Section\n\n- A rule.\n');
    writeFileSync(p.file('data/eval.jsonl'), '');
    const after = await load(frozen);
    expect(after.spec.hash).toBe(before.spec.hash);
    expect(after.evalSet).toEqual(before.evalSet);
    expect(after.aftData).toEqual(before.aftData);
    expect(after.mixData).toEqual(before.mixData);
    // The same experiment started with paths only reads the changed files (and here refuses the empty eval set).
    await badInputOf(load(p.raw));
  });

  it('a file changed on the worker after msm start, its frozen content not in the store: refused, naming the file, both hashes and the fix', async () => {
    const p = project();
    const frozen = await freezeExperimentInput(p.raw, 'frozen.json');
    const recorded = frozen.frozenInputs!['spec.md'].sha256;
    rmSync(path.join(p.dir, 'store'), { recursive: true }); // e.g. msm start ran on another machine, with its own store
    const changed = readFileSync(p.file('spec.md'), 'utf8') + '\n## Added later\n\n- Another rule.\n';
    writeFileSync(p.file('spec.md'), changed);
    const f = await badInputOf(load(frozen));
    expect(f.message).toContain(`spec: ${p.file('spec.md')} changed after it was frozen at start`);
    expect(f.message).toContain(`recorded sha256 ${recorded}`);
    expect(f.message).toContain(`the worker's file now has sha256 ${sha256Hex(changed)}`);
    expect(f.message).toMatch(/Start the run again \(msm start, .* re-freezes the inputs/);
    // The file as it was: the worker freezes it itself, and every later read is by hash.
    const original = readFileSync(path.join(PROJECT_ROOT, 'specs/demo.md'), 'utf8');
    writeFileSync(p.file('spec.md'), original);
    await load(frozen);
    expect((await p.store.get(frozenKey(recorded))).toString('utf8')).toBe(original);
  });

  it('refuses store content that no longer has its hash, and a missing file the store lacks', async () => {
    const p = project();
    const frozen = await freezeExperimentInput(p.raw, 'frozen.json');
    const spec = frozen.frozenInputs!['spec.md'];
    await p.store.put(frozenKey(spec.sha256), '# Tampered\n');
    expect((await badInputOf(load(frozen))).message).toMatch(
      new RegExp(
        `store object .*${spec.sha256} holds content with sha256 ${sha256Hex('# Tampered\n')}, not ${spec.sha256}`,
      ),
    );
    rmSync(path.join(p.dir, 'store'), { recursive: true });
    rmSync(p.file('spec.md'));
    expect((await badInputOf(load(frozen))).message).toMatch(
      /spec: spec\.md was frozen at start \(sha256 [0-9a-f]{64}\) but the store .* does not hold that content and the worker cannot read .*spec\.md/,
    );
  });

  it('the reader: by hash when stored, disk for a path the input does not list; the planner sizes prompts from frozen bytes', async () => {
    const p = project();
    const x = parseExperiment(p.raw);
    const frozen: FrozenInputs = await freezeExperimentFiles(x, p.dir, p.store, { now: new Date() });
    const { ['data/mix.jsonl']: _mix, ...partial } = frozen;
    const read = frozenInputReader(partial, p.store, p.dir);
    const disk = (rel: string) => () => Promise.resolve(`disk:${rel}`);
    expect(await read('data/mix.jsonl', 'aft.mix.data', disk('data/mix.jsonl'))).toBe('disk:data/mix.jsonl');
    expect(await read('spec.md', 'spec', disk('spec.md'))).toBe(readFileSync(p.file('spec.md'), 'utf8'));
    // checkExperiment with the reader: an eval set replaced on disk by one with far longer prompts changes nothing.
    const lines = readFileSync(p.file('data/eval.jsonl'), 'utf8');
    const before = await checkExperiment(p.raw, 'frozen', () => read);
    writeFileSync(p.file('data/eval.jsonl'), lines.replace(/"content": ?"/g, `"content": "${'long '.repeat(2000)}`));
    const after = await checkExperiment(p.raw, 'frozen', () => read);
    expect(after.evalSet.text).toBe(before.evalSet.text);
    // The memory planner sizes prompts from the frozen eval set too, not from the file on this machine.
    const promptLine = (plan: unknown) => JSON.stringify(plan).match(/prompt ≤ \d+/)![0];
    expect(promptLine(planFromDisk(x, p.dir, lines))).toBe(
      promptLine(
        planFromDisk(
          x,
          p.dir,
          await read('data/eval.jsonl', 'eval.prompts', () => Promise.reject(new Error('not read'))),
        ),
      ),
    );
    expect(promptLine(planFromDisk(x, p.dir))).not.toBe(promptLine(planFromDisk(x, p.dir, lines)));
  });
});
