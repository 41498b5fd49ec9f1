"""Error classes that map onto the job contract's exit codes."""

EXIT_DONE = 0
EXIT_RETRYABLE = 1
EXIT_BAD_INPUT = 2
EXIT_LOCKED = 3


class BadInput(Exception):
    """The job cannot succeed as written (exit 2, not retried): the message says what to fix."""


class JobLocked(Exception):
    """Another trainer process holds this job's lock (retryable: it may be a dying previous attempt)."""


class Retryable(Exception):
    """A transient fault outside the job (network, S3 5xx or throttling): exit 1, the orchestrator relaunches
    and the job resumes from its newest complete checkpoint."""
