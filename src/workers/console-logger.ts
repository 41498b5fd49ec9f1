import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';

/**
 * One line per worker log entry: "Activity failed" with its type, attempt and message instead of a
 * stack trace, so a retried transient fault reads as what it is. MSM_LOG_LEVEL picks the level (WARN).
 */
// One worker per task queue serves only workflows or only activities: that is by design, not news.
const EXPECTED = /^No (activities|workflows|Nexus services) registered/;

function oneLine(entry: LogEntry): void {
  if (EXPECTED.test(entry.message)) return;
  const m = (entry.meta ?? {}) as Record<string, unknown>;
  const err = m.error as { message?: string; type?: string } | undefined;
  const what = [
    m.activityType ?? m.workflowType,
    m.workflowId && `(${m.workflowId})`,
    m.attempt && `attempt ${m.attempt}`,
  ]
    .filter(Boolean)
    .join(' ');
  const why = err?.message ? `: ${err.type ? `[${err.type}] ` : ''}${err.message.split('\n')[0].slice(0, 300)}` : '';
  console.error(`[worker ${entry.level.toLowerCase()}] ${entry.message}${what ? ` — ${what}` : ''}${why}`);
}

let installed = false;
export function installConsoleLogger(): void {
  if (installed) return;
  installed = true;
  const level = (process.env.MSM_LOG_LEVEL ?? 'WARN').toUpperCase() as 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  Runtime.install({ logger: new DefaultLogger(level, oneLine) });
}
