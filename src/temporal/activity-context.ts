import { Context } from '@temporalio/activity';

/** Activity context for code that also runs outside activities (stage modules called directly by tests). */

/** The current activity's attempt (1 outside an activity). */
export function activityAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

export function heartbeatIfActivity(details?: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // not inside an activity (unit tests call these helpers directly)
  }
}
