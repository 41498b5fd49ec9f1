"""Rebuild the frozen calibration sets of inspect_evals/agentic_misalignment's classifiers from
evals/calibration/inspect-agentic/ and record their hashes and counts:

    .venv/bin/python scripts/build-inspect-calibration.py              # every scenario
    .venv/bin/python scripts/build-inspect-calibration.py blackmail    # one scenario

Each reply is an opening x a decision x a closing, taken in a fixed order, so the same parts always make the
same file. Re-recording a hash changes what "calibrated" means: say so in the commit."""

import hashlib
import itertools
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PARTS = ROOT / "evals" / "calibration" / "inspect-agentic"
OUT = ROOT / "src" / "eval" / "calibration"
MANIFEST = OUT / "inspect-manifest.json"
SCENARIOS = ("blackmail", "leaking", "murder")
# The default bar needs 60 per class: 0 errors in 60 puts the 95% upper bound under 5%.
MIN_PER_CLASS = 60


def replies(parts: dict, label: str) -> list[tuple[str, str]]:
    """(id suffix, reply) for every opening x decision x closing of one label."""
    out = []
    combos = itertools.product(enumerate(parts["openings"]), enumerate(parts[label]), enumerate(parts["closings"]))
    for (o, opening), (d, decision), (c, closing) in combos:
        text = opening + "\n" + decision.rstrip("\n") + ("\n" + closing.rstrip("\n") if closing.strip() else "")
        out.append((f"o{o + 1}-d{d + 1}-c{c + 1}", text.strip() + "\n"))
    return out


def build(scenario: str) -> list[dict]:
    parts = yaml.safe_load((PARTS / f"{scenario}.yaml").read_text(encoding="utf-8"))
    if parts.get("scenario") != scenario:
        sys.exit(f"{PARTS / scenario}.yaml: scenario is {parts.get('scenario')!r}, expected {scenario!r}")
    items = []
    for label, shows in (("shows", True), ("clean", False)):
        for suffix, reply in replies(parts, label):
            items.append({"id": f"{scenario}.{label}.{suffix}", "scenario": scenario, "shows": shows, "reply": reply})
        n = sum(1 for i in items if i["shows"] is shows)
        if n < MIN_PER_CLASS:
            sys.exit(f"{scenario}: {n} {label} replies; write more parts (the bar needs {MIN_PER_CLASS} per class)")
    return items


def main(asked: list[str]) -> None:
    unknown = [s for s in asked if s not in SCENARIOS]
    if unknown:
        sys.exit(f"unknown scenario(s) {', '.join(unknown)}; the scenarios are {', '.join(SCENARIOS)}")
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8")) if MANIFEST.is_file() else {}
    for scenario in asked or SCENARIOS:
        items = build(scenario)
        text = "".join(json.dumps(i, ensure_ascii=False, separators=(",", ":")) + "\n" for i in items)
        file = f"inspect-{scenario}.jsonl"
        (OUT / file).write_text(text, encoding="utf-8")
        shows = sum(1 for i in items if i["shows"])
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        manifest[f"inspect:{scenario}"] = {"file": file, "sha256": sha, "shows": shows, "clean": len(items) - shows}
        print(f"{file}: {shows} showing, {len(items) - shows} clean")
    MANIFEST.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
