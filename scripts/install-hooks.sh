#!/usr/bin/env bash
# Installs the pre-commit hook (scripts/pre-commit.sh) into this checkout's git hooks; run by set-up.
# Idempotent. Does nothing outside a git checkout of this repository (a tarball, a CI image without .git),
# never replaces a hook someone wrote (it says so instead), and never fails set-up: a read-only .git only
# earns a message. Opt out with MSM_NO_GIT_HOOKS=1.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 0
say() { echo "[setup] $*"; }
[ "${MSM_NO_GIT_HOOKS:-}" = 1 ] && exit 0
command -v git >/dev/null 2>&1 || exit 0
# Only this repository's own checkout: not a parent repository that happens to contain it.
top="$(git rev-parse --show-toplevel 2>/dev/null)" || exit 0
[ "$(cd "$top" && pwd -P)" = "$(pwd -P)" ] || exit 0
hooks="$(git rev-parse --git-path hooks 2>/dev/null)" || exit 0  # relative to this folder, or absolute
hook="$hooks/pre-commit"
marker="# msm pre-commit hook (installed by scripts/install-hooks.sh)"
# The hook finds the checkout it runs in, so one hooks folder shared by worktrees serves each of them.
body="#!/usr/bin/env bash
$marker
root=\"\$(git rev-parse --show-toplevel)\" || exit 1
[ -f \"\$root/scripts/pre-commit.sh\" ] || exit 0  # a checkout from before the hook existed
exec bash \"\$root/scripts/pre-commit.sh\""

if [ -f "$hook" ] && ! grep -qxF "$marker" "$hook"; then
  say "left your own $hook as it is; to add this project's checks, call scripts/pre-commit.sh from it"
  exit 0
fi
[ -f "$hook" ] && [ "$(cat "$hook")" = "$body" ] && exit 0
if mkdir -p "$hooks" 2>/dev/null && { printf '%s\n' "$body" >"$hook.tmp$$"; } 2>/dev/null && chmod +x "$hook.tmp$$" &&
  mv -f "$hook.tmp$$" "$hook" 2>/dev/null; then
  say "pre-commit hook installed (quick checks on staged files; skip once with git commit -n)"
else
  rm -f "$hook.tmp$$" 2>/dev/null
  say "could not write $hook (read-only?): the pre-commit hook is not installed"
fi
exit 0
