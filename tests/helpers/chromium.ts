import { chromium, type Browser } from 'playwright-core';
import { onPath } from '../../src/util/pip-tool';

/**
 * Debian's headless Chromium (installed by scripts/setup.sh), driven by playwright-core. The flags keep
 * it from reaching for the network, which this machine does not have.
 */
export async function launchChromium(): Promise<Browser> {
  const executablePath = process.env.MSM_CHROMIUM ?? onPath('chromium') ?? onPath('chromium-browser');
  if (!executablePath)
    throw new Error("no chromium on PATH: run scripts/setup.sh (it installs Debian's chromium) or set MSM_CHROMIUM");
  return chromium.launch({
    executablePath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
