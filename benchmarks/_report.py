"""One line per benchmark case: our figure, a peer's from the same run, the ratio.

Every script under `benchmarks/` prints its results through `report`, so the
lines read alike and `tests/test_benchmarks.py` can check them:

    10,000 no-op phases | ours 1.92 s | dask threaded 0.91 s | ratio 2.11
      (lower is better)

(one line in the output).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

LINE_FORMAT = (
    "{case} | ours {ours} | {peer} {theirs} | ratio {ratio} ({better} is better)"
)


def figure(value: float, unit: str) -> str:
    """A value with three significant digits and its unit."""
    if not math.isfinite(value):
        return f"n/a {unit}"
    if abs(value) >= 1000:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def report(
    case: str,
    ours: float,
    peer: str,
    theirs: float,
    unit: str,
    *,
    higher_is_better: bool = False,
) -> str:
    """Print and return the line of one case; the ratio is ours / theirs."""
    ratio = ours / theirs if theirs else math.inf
    line = LINE_FORMAT.format(
        case=case,
        ours=figure(ours, unit),
        peer=peer,
        theirs=figure(theirs, unit),
        ratio="n/a" if not math.isfinite(ratio) else f"{ratio:.3g}",
        better="higher" if higher_is_better else "lower",
    )
    print(line, flush=True)
    return line


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of `values`, by linear interpolation."""
    if not values:
        return math.nan
    if len(values) == 1:
        return float(values[0])
    return float(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1])
