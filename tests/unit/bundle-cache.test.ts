import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cachedBundleCode } from '../../src/workers/bundle-cache';
import { WORKFLOWS_PATH } from '../../src/workers/create-workers';

describe('the workflow bundle cache (MSM_WORKFLOW_BUNDLE_CACHE)', () => {
  const before = process.env.MSM_WORKFLOW_BUNDLE_CACHE;
  afterEach(() => {
    if (before === undefined) delete process.env.MSM_WORKFLOW_BUNDLE_CACHE;
    else process.env.MSM_WORKFLOW_BUNDLE_CACHE = before;
  });

  it('bundles once per code: the second worker reads the first one’s bundle; another entry is another bundle', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'msm-bundles-'));
    process.env.MSM_WORKFLOW_BUNDLE_CACHE = dir;
    let bundled = 0;
    const make = (code: string) => async () => (bundled++, code);
    expect(await cachedBundleCode(WORKFLOWS_PATH, make('first'))).toBe('first');
    expect(await cachedBundleCode(WORKFLOWS_PATH, make('second'))).toBe('first');
    expect(bundled).toBe(1);
    const versioned = path.join(path.dirname(WORKFLOWS_PATH), 'versioning.ts');
    expect(await cachedBundleCode(versioned, make('versioned'))).toBe('versioned');
    expect(readdirSync(dir).filter((f) => f.endsWith('.js'))).toHaveLength(2);
  });

  it('bundles again when a file the bundle can reach changes', async () => {
    process.env.MSM_WORKFLOW_BUNDLE_CACHE = mkdtempSync(path.join(tmpdir(), 'msm-bundles-'));
    const entry = path.join(mkdtempSync(path.join(tmpdir(), 'msm-workflows-')), 'index.ts');
    writeFileSync(entry, 'export const a = 1;');
    let bundled = 0;
    const make = async () => `bundle ${++bundled}`;
    expect(await cachedBundleCode(entry, make)).toBe('bundle 1');
    expect(await cachedBundleCode(entry, make)).toBe('bundle 1');
    writeFileSync(path.join(path.dirname(entry), 'helper.ts'), 'export const b = 2;');
    expect(await cachedBundleCode(entry, make)).toBe('bundle 2');
  });

  it('is off unless named: every call bundles', async () => {
    delete process.env.MSM_WORKFLOW_BUNDLE_CACHE;
    let bundled = 0;
    await cachedBundleCode(WORKFLOWS_PATH, async () => (bundled++, 'x'));
    await cachedBundleCode(WORKFLOWS_PATH, async () => (bundled++, 'x'));
    expect(bundled).toBe(2);
  });
});
