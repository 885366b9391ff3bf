"""The backend benchmark's report: its results read back as tables and a chart.

``helpers.bench.run_benchmark`` writes ``results.json`` and ``results.csv``, one row
per case (``helpers.bench.RESULT_COLUMNS``); notebook 05 and ``benchmarks/`` show
them with these.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.bench import RESULT_COLUMNS, Case
from helpers.data import DataError


def read_results(path: str | Path) -> pd.DataFrame:
    """The rows of a ``results.json`` (or the folder holding it) as a DataFrame."""
    path = Path(path)
    path = path / "results.json" if path.is_dir() else path
    if not path.is_file():
        raise DataError(f"{path}: no benchmark results here (run `python -m helpers bench`)")
    cases = json.loads(path.read_text())["cases"]
    return pd.DataFrame(cases).reindex(columns=RESULT_COLUMNS)


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One readable row per case: seconds per epoch with its spread, throughput, memory,
    quality, and the reason for a failed case."""

    def spread(row):
        if row["status"] != "ok":
            return ""
        return f"{row['seconds_median']:.3g} ({row['seconds_min']:.3g}–{row['seconds_max']:.3g})"

    table = pd.DataFrame(
        {
            "model": frame["model"].str.upper(),
            "mask": frame["mask"].map({True: "on", False: "off"}),
            "recipe": frame["recipe"].fillna("padded"),
            "backend": frame["backend"],
            "s / epoch (min–max)": frame.apply(spread, axis=1),
            "warm-up s": frame["warmup_seconds"],
            "JAX compiles": frame["jax_compiles"],
            "docs / s": frame["docs_per_second"],
            "peak MB": frame["peak_memory_mb"],
            "accuracy": frame["accuracy"],
            "AUC": frame["roc_auc"],
            "batch": frame["batch_size"],
            "status": frame["status"].where(
                frame["status"] == "ok", "failed: " + frame["reason"].astype(str)
            ),
        }
    )
    return table.fillna("")


def speed_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """Median seconds per epoch as (model, mask) × backend, and each over the fastest."""
    ok = frame[frame["status"] == "ok"]
    seconds = ok.pivot_table(
        index=["model", "mask", "recipe"],
        columns="backend",
        values="seconds_median",
        aggfunc="first",
    )
    ratios = seconds.div(seconds.min(axis=1), axis=0).round(1)
    return pd.concat({"s / epoch": seconds.round(2), "× fastest": ratios}, axis=1)


def plot_benchmark(frame: pd.DataFrame, ax=None):
    """Horizontal bars: median seconds per epoch per case, min–max as error bars.

    Failed cases are listed with "failed" instead of a bar. A log scale is used when
    the slowest case takes more than 20 times the fastest.
    """
    import matplotlib.pyplot as plt

    colours = {"tensorflow": "#ff8f00", "jax": "#5e35b1", "torch": "#d84315"}
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.45 * len(frame) + 1.2))
    labels = [
        Case(
            r.backend, r.model, bool(r.mask), r.recipe if isinstance(r.recipe, str) else "padded"
        ).label
        for r in frame.itertuples()
    ]
    positions = np.arange(len(frame))[::-1]
    ok = (frame["status"] == "ok").to_numpy()
    median = frame["seconds_median"].to_numpy(dtype=float)
    errors = np.vstack([median - frame["seconds_min"], frame["seconds_max"] - median])
    ax.barh(
        positions[ok], median[ok], xerr=errors[:, ok], capsize=3,
        color=[colours.get(b, "grey") for b in frame["backend"][ok]],
    )  # fmt: skip
    for position, value in zip(positions[ok], median[ok], strict=True):
        ax.annotate(f" {value:.3g} s", (value, position), va="center", fontsize=8)
    for position in positions[~ok]:
        ax.annotate(" failed", (0, position), va="center", fontsize=8, color="crimson")
    if ok.any() and median[ok].max() > 20 * median[ok].min():
        ax.set_xscale("log")
    ax.set_yticks(positions, labels)
    ax.set_xlabel("seconds per epoch (median of the timed epochs; bars: min–max)")
    docs = int(frame["docs"].iloc[0]) if len(frame) else 0
    ax.set_title(f"Training time per epoch, {docs:,} documents")
    return ax
