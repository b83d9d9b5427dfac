"""A weights file whose lead comes from one fit and whose refusal from another: BASE with
its sentence combination replaced by LEAD's, BASE's own (with its refusal bar and
short-answer bar, calibrated on it) kept as the refusal combination. For a lead picker
that weighs answer-shaped spans (``span``), which would otherwise refuse the questions
whose answer has no such span (docs/benchmarks.md, "session 26").

    .venv/bin/python tests/bench/compose_weights.py --base qa/models/answer-ranker.json \\
        --lead /tmp/w-span.json --out /tmp/w-hybrid.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def compose(base: dict, lead: dict) -> dict:
    for name, weights in (("--base", base), ("--lead", lead)):
        if not isinstance(weights, dict) or not isinstance(weights.get("sentence"), dict):
            raise ValueError(f"{name} holds no sentence combination (a weights file of fit_answer_combiner.py)")
    out = dict(base)
    out["refusal"] = base.get("refusal", base["sentence"])
    out["sentence"] = lead["sentence"]
    out["composed"] = {"lead": "sentence weights of another fit", "refusal": "the base file's sentence weights and bars"}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True, help="the weights whose passages, refusal and bars are kept")
    parser.add_argument("--lead", type=Path, required=True, help="the weights whose sentence combination picks the lead")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    try:
        base, lead = (json.loads(p.read_text(encoding="utf-8")) for p in (args.base, args.lead))
        composed = compose(base, lead)
    except (OSError, ValueError) as exc:
        sys.exit(f"cannot compose the weights: {exc}")
    args.out.write_text(json.dumps(composed, indent=1) + "\n", encoding="utf-8")
    print(f"{args.out}: lead {composed['sentence']['features']}, refusal {composed['refusal']['features']}")


if __name__ == "__main__":
    main()
