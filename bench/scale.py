"""The benchmark at 1/4, 1/2 and full county scale, with each figure's growth exponent.

    bench/scale [--scales 0.25 0.5 1.0]

For each scale it regenerates the county and runs bench/run; then, for each figure, the
exponent k of time ∝ size^k fitted between the smallest and the largest scale (k ≈ 0: flat,
k ≈ 1: linear in the county's size). Writes bench/results/scale-<time>.json.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def figures(run: dict) -> dict[str, float]:
    out = {f"{name} p95 ms": r["p95"] for name, r in run["endpoints"].items()}
    out["plan one county day s"] = run["planning"]["seconds"]
    out["dispatch s per 1000 msg"] = 1000 / run["dispatch"]["per_second"] if run["dispatch"]["per_second"] else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    runs = {}
    for scale in args.scales:
        label = f"scale-{scale:g}"
        subprocess.run([str(ROOT / "bench" / "generate"), "--scale", str(scale)], check=True)
        before = set(RESULTS.glob(f"run-*-{label}.json"))
        subprocess.run([str(ROOT / "bench" / "run"), "--label", label, "--requests", str(args.requests)], check=True)
        (path,) = set(RESULTS.glob(f"run-*-{label}.json")) - before
        runs[scale] = figures(json.loads(path.read_text()))
    low, high = min(runs), max(runs)
    print(f"\n{'figure':<30}" + "".join(f"{s:>10g}" for s in sorted(runs)) + f"{'exponent':>10}")
    exponents = {}
    for name in runs[high]:
        values = [runs[s].get(name) for s in sorted(runs)]
        a, b = runs[low].get(name), runs[high].get(name)
        k = math.log(b / a) / math.log(high / low) if a and b else None
        exponents[name] = k
        print(f"{name:<30}" + "".join(f"{v:>10.2f}" if v is not None else f"{'-':>10}" for v in values)
              + (f"{k:>10.2f}" if k is not None else f"{'-':>10}"))
    out = RESULTS / f"scale-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"figures": {str(s): v for s, v in runs.items()}, "exponents": exponents}, indent=2))
    print(f"\nwritten to {out.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
