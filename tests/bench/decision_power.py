"""How often a decision rule ships a candidate answerer, as a function of its true gain.

Two answerers asked the same questions agree on most of them; only the questions where
one leads with the gold and the other does not (the discordant ones, which
compare_answers.py counts as "gained" and "lost") carry information. This script takes
each set's size and its measured number of discordant questions, and simulates
candidates whose true gain in gold leads is G points: a question is discordant with the
measured rate d, and a discordant question is a gain with probability 1/2 + G / (2 d).
For each G it prints how often

- each set's own rule passes (net gain >= the threshold given for it, in questions),
- all of them pass at once (the rules used in sessions 26-33),
- the pooled exact sign test over all sets is significant (two-sided p < --alpha) with
  more gains than losses,
- with --news SETS, the rule of session 34 passes: the pooled test above, the news sets
  pooled gain at least as many as they lose, and no set's losses are significant
  (one-sided sign test p >= --alpha),

and, per set, the smallest true gain such a sign test finds 80 % of the time.

    .venv/bin/python tests/bench/decision_power.py \\
        --set realtimeqa-dev 103 10 -1 --set rest 296 19 6 --set xquad 457 35
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from math import comb

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from compare_answers import sign_test  # noqa: E402


@dataclass(frozen=True)
class EvalSet:
    name: str
    questions: int
    discordant: int  # questions on which the two answerers measured differ
    threshold: int | None  # the rule: net gain (gained - lost) at least this; None: no rule of its own

    @property
    def rate(self) -> float:
        return self.discordant / self.questions


def parse_set(values: list[str]) -> EvalSet:
    if len(values) not in (3, 4):
        raise argparse.ArgumentTypeError("--set NAME QUESTIONS DISCORDANT [MIN_NET_GAIN]")
    name, n, d, *rest = values
    try:
        s = EvalSet(name, int(n), int(d), int(rest[0]) if rest else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--set {' '.join(values)}: QUESTIONS, DISCORDANT and MIN_NET_GAIN are whole numbers") from None
    if not 0 < s.discordant <= s.questions:
        raise argparse.ArgumentTypeError(f"--set {name}: need 0 < DISCORDANT <= QUESTIONS")
    return s


def flips(s: EvalSet, gain: float, sims: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Gained and lost questions of ``sims`` simulated comparisons on set ``s``, for a
    candidate whose true gain is ``gain`` (a share of the set's questions)."""
    p_gain = min(1.0, max(0.0, 0.5 + gain / (2 * s.rate)))
    discordant = rng.binomial(s.questions, s.rate, sims)
    gained = rng.binomial(discordant, p_gain)
    return gained, discordant - gained


def significant(gained: np.ndarray, lost: np.ndarray, alpha: float) -> np.ndarray:
    """Per simulation: the two-sided exact sign test rejects "a coin" and gains lead."""
    cache: dict[tuple[int, int], bool] = {}
    out = np.empty(len(gained), dtype=bool)
    for i, (g, lo) in enumerate(zip(gained.tolist(), lost.tolist())):
        key = (g, lo)
        if key not in cache:
            cache[key] = g > lo and sign_test(g, lo) < alpha
        out[i] = cache[key]
    return out


def losses_not_significant(gained: np.ndarray, lost: np.ndarray, alpha: float) -> np.ndarray:
    """Per simulation: P(at least ``lost`` losses of the flips, a coin) >= alpha."""
    cache: dict[tuple[int, int], bool] = {}
    out = np.empty(len(gained), dtype=bool)
    for i, (g, lo) in enumerate(zip(gained.tolist(), lost.tolist())):
        key = (g, lo)
        if key not in cache:
            n = g + lo
            cache[key] = sum(comb(n, k) for k in range(lo, n + 1)) / 2**n >= alpha if n else True
        out[i] = cache[key]
    return out


def detectable_gain(s: EvalSet, alpha: float, power: float, sims: int, rng: np.random.Generator) -> float | None:
    """The smallest true gain (in steps of half a point) that the set's own sign test finds
    ``power`` of the time; None when even every discordant question gained would not."""
    for half_points in range(1, 2 * int(100 * s.rate) + 1):
        gain = half_points / 200
        if gain > s.rate:
            break
        gained, lost = flips(s, gain, sims, rng)
        if significant(gained, lost, alpha).mean() >= power:
            return gain
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", dest="sets", nargs="+", action="append", required=True, metavar="ARG",
                        help="NAME QUESTIONS DISCORDANT [MIN_NET_GAIN] (repeat for each set)")
    parser.add_argument("--gains", type=float, nargs="+", default=[0, 1, 2, 3, 4, 6], help="true gains to try, in points")
    parser.add_argument("--news", nargs="+", default=[], metavar="NAME", help="the news sets, for the session-34 rule")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--power", type=float, default=0.8)
    parser.add_argument("--sims", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        sets = [parse_set(v) for v in args.sets]
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    unknown = set(args.news) - {s.name for s in sets}
    if unknown:
        parser.error(f"--news names no --set: {', '.join(sorted(unknown))}")
    rng = np.random.default_rng(args.seed)
    ruled = [s for s in sets if s.threshold is not None]

    head = ["true gain (points)"] + [f"{s.name} net >= {s.threshold:+d}" for s in ruled]
    head += ["all rules pass"] if ruled else []
    head += [f"pooled sign test p < {args.alpha}"]
    head += ["session-34 rule (1-3)"] if args.news else []
    print("| " + " | ".join(head) + " |")
    print("|" + "---:|" * len(head))
    for points in args.gains:
        gain = points / 100
        per_set = {s.name: flips(s, gain, args.sims, rng) for s in sets}
        passes = [(per_set[s.name][0] - per_set[s.name][1]) >= s.threshold for s in ruled]
        pooled_gained = sum(g for g, _ in per_set.values())
        pooled_lost = sum(lo for _, lo in per_set.values())
        row = [f"{points:+g}"] + [f"{p.mean():.2f}" for p in passes]
        row += [f"{np.logical_and.reduce(passes).mean():.2f}"] if ruled else []
        pooled = significant(pooled_gained, pooled_lost, args.alpha)
        row += [f"{pooled.mean():.2f}"]
        if args.news:
            news_net = sum(per_set[name][0] - per_set[name][1] for name in args.news)
            rule = pooled & (news_net >= 0)
            for g, lo in per_set.values():
                rule &= losses_not_significant(g, lo, args.alpha)
            row += [f"{rule.mean():.2f}"]
        print("| " + " | ".join(row) + " |")

    print()
    print(f"| set | questions | discordant | smallest true gain its own sign test finds {args.power:.0%} of the time |")
    print("|---|---:|---:|---:|")
    for s in sets:
        found = detectable_gain(s, args.alpha, args.power, min(args.sims, 5000), rng)
        shown = f"{100 * found:.1f} points ({found * s.questions:.0f} questions)" if found else "none possible"
        print(f"| {s.name} | {s.questions} | {s.discordant} ({s.rate:.1%}) | {shown} |")


if __name__ == "__main__":
    main()
