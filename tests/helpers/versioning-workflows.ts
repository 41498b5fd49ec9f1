// Workflows for tests/e2e/worker-versioning.test.ts: the same code on two worker builds, one per versioning
// behaviour, so the test sees where each one's steps run after a new version becomes current.
import { condition, defineSignal, proxyActivities, setHandler, setWorkflowOptions } from '@temporalio/workflow';

export const goSignal = defineSignal('go');
const { whichBuild } = proxyActivities<{ whichBuild(): Promise<string> }>({ startToCloseTimeout: '30s' });

/** Runs one activity, waits for `go`, runs another: returns the builds whose workers ran them. */
async function twoSteps(): Promise<string[]> {
  let go = false;
  setHandler(goSignal, () => void (go = true));
  const first = await whichBuild();
  await condition(() => go);
  return [first, await whichBuild()];
}

export async function longAutoUpgrade(): Promise<string[]> {
  return twoSteps();
}
export async function shortPinned(): Promise<string[]> {
  return twoSteps();
}
setWorkflowOptions({ versioningBehavior: 'AUTO_UPGRADE' }, longAutoUpgrade);
setWorkflowOptions({ versioningBehavior: 'PINNED' }, shortPinned);
