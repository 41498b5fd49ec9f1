#!/usr/bin/env bash
# tiktoken's o200k_base BPE file, built offline from the npm package `tiktoken` (node_modules/tiktoken, a
# devDependency) into a tiktoken cache folder, so Inspect AI (which estimates tokens with o200k_base) never
# downloads it. The npm package's encoders/o200k_base.json holds the ranks as `! <first rank> <base64 token> ...`
# lines; expanded to `<base64 token> <rank>` lines they are byte for byte the published o200k_base.tiktoken,
# checked against the sha256 tiktoken itself checks. Stored under the sha1 of its URL, the name tiktoken looks
# for in TIKTOKEN_CACHE_DIR. Idempotent: a file already there with the right hash is kept.
# usage: bash scripts/tiktoken-cache.sh [CACHE_DIR]
# (default: $MSM_TIKTOKEN_CACHE, else ${MSM_CACHE_DIR:-~/.cache/msm}/tiktoken: where the trainer looks)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-${MSM_TIKTOKEN_CACHE:-${MSM_CACHE_DIR:-$HOME/.cache/msm}/tiktoken}}"
url="https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
name="$(printf '%s' "$url" | sha1sum | cut -c1-40)"
file="$dest/$name"

if [ -f "$file" ] && [ "$(sha256sum "$file" | cut -c1-64)" = "$sha256" ]; then
  exit 0
fi
src="$root/node_modules/tiktoken/encoders/o200k_base.json"
if [ ! -f "$src" ]; then
  echo "tiktoken-cache: $src is missing: run npm install (package.json pins tiktoken as a devDependency)" >&2
  exit 1
fi
mkdir -p "$dest"
tmp="$file.tmp$$"
trap 'rm -f "$tmp"' EXIT
python3 - "$src" "$tmp" <<'EOF'
import json, sys

ranks = json.load(open(sys.argv[1], encoding="utf-8"))["bpe_ranks"]
with open(sys.argv[2], "w", encoding="ascii", newline="\n") as out:
    for line in ranks.split("\n"):
        if not line:
            continue
        bang, first, *tokens = line.split(" ")
        if bang != "!":
            sys.exit(f"unexpected bpe_ranks line in {sys.argv[1]}: {line[:40]!r}")
        out.writelines(f"{t} {int(first) + i}\n" for i, t in enumerate(tokens))
EOF
got="$(sha256sum "$tmp" | cut -c1-64)"
if [ "$got" != "$sha256" ]; then
  echo "tiktoken-cache: built o200k_base has sha256 $got, not $sha256 (another npm tiktoken version?)" >&2
  exit 1
fi
mv -f "$tmp" "$file"
echo "[setup] tiktoken o200k_base built into $dest"
