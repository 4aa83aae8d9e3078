"""Benchmark: mathft.grading vs pairwise Math-Verify, on MATH500-derived answer sets.

1. Clustering: for each of P problems, 64 answers built from the MATH500 gold answer
   (equivalent rewrites such as \\frac12 / 0.5 / \\dfrac{1}{2}, wrong answers taken from
   other problems or perturbed, and None). cluster_answers vs pairwise Math-Verify
   (verify(parse(a), parse(b)) in both directions, connected components). Reports time,
   time ratio, fraction of problems with identical partitions and pairwise agreement.
2. Equivalence: is_equiv vs Math-Verify on a labelled set of (gold, candidate) pairs
   (generated rewrites/wrong answers, plus hand-labelled traps): time and accuracy.
3. Peer test suites (tests/grading/peer_cases.py: Math-Verify's, the MATH reference
   implementation's and NeMo-Skills' own grader tests): per source, how many cases each
   grader decides as the suite expects, how many of mathft's disagreements are documented
   deliberate differences, and time. mathft grades a case as a user would (extract_answer
   where a side declares an answer, then is_equiv); Math-Verify as its tests do
   (parse with LaTeX + expression extraction, boxed first, then verify(gold, pred)).

Run: .venv/bin/python benchmarks/grading.py [--problems 20] [--seed 0] [--suites-only]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import lzma
import random
import sys
import time
from fractions import Fraction
from pathlib import Path

import mathft
from mathft.grading import cluster_answers, is_equiv
from mathft.grading.normalize import normalize_answer, parse_number

TRAILING_PERIOD = True  # "5." style answers (Math-Verify rejects them); --no-period drops them
FILES = Path(mathft.__file__).parent / "data" / "files"

TRAPS = [  # (a, b, label): hand-labelled hard cases
    ("\\frac{1}{2004!}", "\\frac{1}{2006!}", False),
    ("0.5", "5", False),
    ("(1,2)", "(2,1)", False),
    ("[1,2)", "(1,2]", False),
    ("\\{1,2\\}", "(1,2)", False),
    ("\\frac{1}{3}", "0.333", False),
    ("2^{100}", "1267650600228229401496703205377", False),
    ("\\infty", "-\\infty", False),
    ("\\text{(A)}", "A", True),
    ("0.\\overline{3}", "\\frac13", True),
    ("\\$1,250", "1250", True),
    ("30^\\circ", "30", True),
    ("12\\text{ cm}^2", "12", True),
    ("x \\in [-2,7]", "[-2,7]", True),
    ("52_8", "52", True),
    ("\\text{Monday}", "monday", True),
    ("1{,}000{,}000", "1000000", True),
    ("10,\\!080", "10080", True),
]


def _load(name: str) -> list[dict]:
    with lzma.open(FILES / name, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _frac_tex(v: Fraction, style: str) -> str:
    sign = "-" if v < 0 else ""
    p, q = abs(v.numerator), v.denominator
    if style == "dfrac":
        return f"{sign}\\dfrac{{{p}}}{{{q}}}"
    if style == "slash":
        return f"{sign}{p}/{q}"
    if style == "short" and p < 10 and q < 10:
        return f"{sign}\\frac{p}{q}"
    return f"{sign}\\frac{{{p}}}{{{q}}}"


def equivalent_variants(gold: str) -> list[str]:
    """Realistic equivalent rewrites of a gold answer, as models write them."""
    out = [gold, gold.replace(" ", ""), f"${gold}$", gold.replace("\\frac", "\\dfrac")]
    if TRAILING_PERIOD:
        out.append(gold + ".")
    out.append(gold.replace("(", "\\left(").replace(")", "\\right)"))
    v = parse_number(normalize_answer(gold))
    if v is not None:
        if v.denominator == 1:
            n = v.numerator
            out += [f"{n}.0", f"x = {n}", f"{n} \\text{{ units}}"]
            if abs(n) >= 1000:
                out.append(f"{n:,}")
        else:
            out += [_frac_tex(v, s) for s in ("dfrac", "slash", "short", "plain")]
            if (v * 10**6).denominator == 1:
                out.append(str(float(v)))
    else:
        out.append(gold.replace("\\sqrt{", "\\sqrt {"))
    return out


def wrong_variants(gold: str, others: list[str], rng: random.Random) -> list[str]:
    out = rng.sample(others, 6)
    v = parse_number(normalize_answer(gold))
    if v is not None:
        out += [str(v + 1), str(-v) if v else "1", str(v * 10) if v else "2", str(float(v) + 0.5)]
    return out


def build_sets(rows: list[dict], n_problems: int, rng: random.Random) -> list[list[str | None]]:
    golds = [r["answer"] for r in rows]
    sets = []
    for r in rng.sample(rows, n_problems):
        eq, wr = equivalent_variants(r["answer"]), wrong_variants(r["answer"], golds, rng)
        answers: list[str | None] = []
        for _ in range(64):
            u = rng.random()
            answers.append(rng.choice(eq) if u < 0.5 else rng.choice(wr) if u < 0.88 else None)
        sets.append(answers)
    return sets


def mv_pairwise_clusters(answers: list[str | None]) -> list[int | None]:
    """Reference: pairwise Math-Verify (both directions), connected components."""
    from math_verify import parse, verify

    parsed = [parse(f"${a}$") if a is not None else None for a in answers]
    parent = list(range(len(answers)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(answers)):
        for j in range(i):
            if parsed[i] is None or parsed[j] is None or find(i) == find(j):
                continue
            if verify(parsed[j], parsed[i]) and verify(parsed[i], parsed[j]):
                parent[find(i)] = find(j)
    roots = [find(i) if parsed[i] is not None else None for i in range(len(answers))]
    return roots  # labels only compared as partitions


def _same_pairs(ids: list) -> set[tuple[int, int]]:
    return {
        (i, j) for i in range(len(ids)) for j in range(i) if ids[i] is not None and ids[i] == ids[j]
    }


def _peer_cases():  # tests/grading/peer_cases.py, loaded by path (tests is not a package)
    path = Path(__file__).resolve().parents[1] / "tests" / "grading" / "peer_cases.py"
    spec = importlib.util.spec_from_file_location("_mathft_peer_cases", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def peer_suites() -> None:
    """Per-source agreement of mathft and Math-Verify with the peers' expected verdicts."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    pc = _peer_cases()
    cfg = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
    rows = []
    asym = 0
    for source in pc.SOURCES:
        cases = [c for c in pc.CASES if c.source == source]
        t = time.perf_counter()
        ours = []
        for c in cases:
            fwd, bwd = pc.mathft_verdict(c.gold, c.pred)
            asym += fwd != bwd
            ours.append(fwd)
        t_o = time.perf_counter() - t
        t = time.perf_counter()
        mv = []
        for c in cases:
            try:
                mv.append(bool(verify(parse(c.gold, cfg), parse(c.pred, cfg))))
            except Exception:
                mv.append(False)
        t_m = time.perf_counter() - t
        ok_o = sum(o == c.expected for o, c in zip(ours, cases))
        ok_m = sum(m == c.expected for m, c in zip(mv, cases))
        documented = sum(o != c.expected and c.mathft is not None for o, c in zip(ours, cases))
        rows.append(
            (source.split()[0], source.split()[1], len(cases), ok_o, ok_m, documented, t_o, t_m)
        )
    print(f"== peer test suites: cases graded as the suite expects ({len(pc.CASES)} cases) ==")
    print(
        f"{'repository':26}{'path':38}{'cases':>6}{'mathft':>8}{'MV':>6}{'doc.diff':>9}"
        f"{'t mathft':>10}{'t MV':>8}"
    )
    for repo, path, n, ok_o, ok_m, doc, t_o, t_m in rows:
        print(f"{repo:26}{path:38}{n:6d}{ok_o:8d}{ok_m:6d}{doc:9d}{t_o:10.2f}{t_m:8.2f}")
    tot = [sum(r[i] for r in rows) for i in range(2, 8)]
    print(f"{'total':64}{tot[0]:6d}{tot[1]:8d}{tot[2]:6d}{tot[3]:9d}{tot[4]:10.2f}{tot[5]:8.2f}")
    print(
        f"mathft asymmetric verdicts: {asym}; doc.diff = mathft disagreements that are "
        "documented deliberate differences (tests/grading/peer_cases.py DIFFERENT)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--problems", type=int, default=20)
    ap.add_argument("--pairs", type=int, default=300, help="generated labelled pairs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-period", action="store_true", help="omit the 'gold.' variant")
    ap.add_argument("--suites-only", action="store_true", help="only the peer test suites")
    args = ap.parse_args()
    if args.suites_only:
        is_equiv("x+1", "1+x")  # start the worker outside the timed region
        peer_suites()
        return
    global TRAILING_PERIOD
    TRAILING_PERIOD = not args.no_period
    rng = random.Random(args.seed)
    rows = _load("math500_test.jsonl.xz")
    sets = build_sets(rows, args.problems, rng)
    is_equiv("x+1", "1+x")  # start the worker outside the timed region (one-off ~2 s)

    t = time.perf_counter()
    ours = [cluster_answers(s) for s in sets]
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    ref = [mv_pairwise_clusters(s) for s in sets]
    t_ref = time.perf_counter() - t
    same_partition = sum(_same_pairs(a) == _same_pairs(b) for a, b in zip(ours, ref))
    agree = total = 0
    for a, b in zip(ours, ref):
        sa, sb = _same_pairs(a), _same_pairs(b)
        n = len(a)
        total += n * (n - 1) // 2
        agree += n * (n - 1) // 2 - len(sa ^ sb)
    print(f"== clustering: {args.problems} MATH500 problems x 64 answers ==")
    print(f"{'':24}{'mathft':>12}{'Math-Verify':>14}")
    print(f"{'time (s)':24}{t_ours:12.2f}{t_ref:14.2f}   ratio MV/ours = {t_ref / t_ours:.1f}x")
    print(
        f"identical partitions: {same_partition}/{len(sets)}; "
        f"pairwise agreement: {agree / total:.4f}"
    )
    for s_, a, b in zip(sets, ours, ref):  # one example per disagreeing problem
        diff = sorted(_same_pairs(a) ^ _same_pairs(b))
        if diff:
            i, j = diff[0]
            print(
                f"  differ ({len(diff)} pairs), e.g. {s_[i]!r} vs {s_[j]!r}: "
                f"mathft={a[i] == a[j]} MV={b[i] == b[j]}"
            )

    # labelled pairs: gold vs equivalent rewrite (True) / wrong answer (False)
    golds = [r["answer"] for r in rows]
    labelled = [(a, b, lab) for a, b, lab in TRAPS]
    for _ in range(args.pairs):
        g = rng.choice(golds)
        if rng.random() < 0.5:
            labelled.append((g, rng.choice(equivalent_variants(g)), True))
        else:
            w = rng.choice(wrong_variants(g, golds, rng))
            labelled.append((g, w, normalize_answer(w) == normalize_answer(g)))
    from math_verify import parse, verify

    t = time.perf_counter()
    ours_l = [is_equiv(a, b) for a, b, _ in labelled]
    t_o = time.perf_counter() - t
    t = time.perf_counter()
    mv_l = [bool(verify(parse(f"${a}$"), parse(f"${b}$"))) for a, b, _ in labelled]
    t_m = time.perf_counter() - t
    acc_o = sum(o == lab for o, (_, _, lab) in zip(ours_l, labelled)) / len(labelled)
    acc_m = sum(m == lab for m, (_, _, lab) in zip(mv_l, labelled)) / len(labelled)
    trap_o = sum(o == lab for o, (_, _, lab) in zip(ours_l, TRAPS))
    trap_m = sum(m == lab for m, (_, _, lab) in zip(mv_l, TRAPS))
    print(f"== equivalence: {len(labelled)} labelled pairs ({len(TRAPS)} hand-labelled traps) ==")
    print(f"{'':24}{'mathft':>12}{'Math-Verify':>14}")
    print(f"{'time (s)':24}{t_o:12.2f}{t_m:14.2f}")
    print(f"{'accuracy':24}{acc_o:12.4f}{acc_m:14.4f}")
    print(f"{'traps correct':24}{trap_o:12d}{trap_m:14d}  (of {len(TRAPS)})")
    wrong = [(a, b, lab) for o, (a, b, lab) in zip(ours_l, labelled) if o != lab]
    for a, b, lab in wrong[:10]:
        print(f"  mathft wrong: {a!r} vs {b!r} (label {lab})")
    peer_suites()


if __name__ == "__main__":
    main()
