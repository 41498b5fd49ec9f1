// The msm CLI's entry point (bin/msm): the commands are in run-cli.ts, which runs nothing on import.
import { runCli } from './run-cli';

// runCli never rejects: every error is a message on stderr and an exit status.
void runCli(process.argv.slice(2)).then((status) => {
  process.exitCode = status;
  // A failed command may leave a connection behind (a worker's, opened before a check refused): end now.
  if (status !== 0) process.exit(status);
});
