"""Presenting a run: plain text on stdout; for full runs JSON, markdown and a bar chart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def write_json(results: dict[str, Any], path: Path) -> None:
    """Every number of the run, raw repetitions included."""
    path.write_text(json.dumps(results, indent=2) + "\n")


def _request_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "| variant | median µs/request | min-max µs | ratio to bare Flask (median) "
        "| ratio min-max | ratio per repetition | Set-Cookie |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        us, ratio = row["us"], row["ratio"]
        per_rep = " ".join(f"{r:.2f}" for r in row["ratios"])
        lines.append(
            f"| {row['label']} | {us['median']:.1f} | {us['min']:.1f}-{us['max']:.1f} "
            f"| {ratio['median']:.2f}x | {ratio['min']:.2f}-{ratio['max']:.2f} | {per_rep} "
            f"| {'yes' if row['set_cookie'] else 'no'} |"
        )
    return lines


def _decode_table(decodes: Sequence[dict[str, Any]]) -> list[str]:
    lines = ["| decoder | median ops/s | min-max ops/s |", "|---|---:|---:|"]
    for row in decodes:
        ops = row["ops"]
        lines.append(
            f"| {row['label']} | {ops['median']:.0f} | {ops['min']:.0f}-{ops['max']:.0f} |"
        )
    return lines


def _machine(machine: dict[str, Any]) -> list[str]:
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items())
    return [
        f"- Python {machine['python']} ({machine['implementation']}), {machine['platform']}",
        f"- CPU: {machine['cpu']}, {machine['cpu_count']} logical CPUs",
        f"- Packages: {packages}",
        f"- flask-sessionext source: git {machine['revision']}",
    ]


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def write_markdown(results: dict[str, Any], path: Path) -> None:
    """The tables of a run, the machine it ran on, how busy it was, and the target verdict."""
    plan = results["plan"]
    lines = [
        "# Protected GET, cost relative to bare Flask",
        "",
        f"{plan['reps']} repetitions, interleaved; {plan['calls']} requests per variant per "
        f"repetition, {plan['warmup']} untimed warm-up calls each. Ratios are taken within each "
        "repetition. Method: bench/README.md.",
        "",
        *_machine(results["machine"]),
        f"- {_sentence(busy_line(results))}: a CPU time well below the wall time, or a load "
        "above the CPU count, means other work competed with the run and the ratios are less sure.",
        "",
        *_request_table(results["requests"]),
        "",
        f"Token decode alone, {plan['decodes']} decodes per repetition:",
        "",
        *_decode_table(results["decode"]),
        "",
        *(
            f"- {line} (checked in the run)."
            for line in set_cookie_lines(results["requests"], results["no_set_cookie"])
        ),
        "",
        *(f"- {target_line(target)}." for target in results["targets"]),
        *(f"- {note}." for note in results["notes"]),
        "",
    ]
    path.write_text("\n".join(lines))


def write_chart(results: dict[str, Any], path: Path) -> None:
    """Median ratio to bare Flask per variant, min-max as error bars, the target as a line.

    matplotlib is imported here, so smoke runs do not need it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["requests"]
    labels = [row["label"] for row in rows]
    medians = [row["ratio"]["median"] for row in rows]
    below = [row["ratio"]["median"] - row["ratio"]["min"] for row in rows]
    above = [row["ratio"]["max"] - row["ratio"]["median"] for row in rows]
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.42 * len(rows)), layout="constrained")
    positions = range(len(rows))
    colors = ["#dd8452" if row["key"].startswith("sessionext") else "#4c72b0" for row in rows]
    ax.barh(positions, medians, xerr=[below, above], color=colors, capsize=3)
    for y, row in zip(positions, rows, strict=True):
        ratio = row["ratio"]
        ax.text(ratio["max"], y, f"  {ratio['median']:.2f}x", va="center", fontsize=8)
    ax.axvline(1.0, color="grey", linewidth=0.8)
    limits = sorted({target["max_ratio"] for target in results["targets"]})
    for limit, style in zip(limits, ["--", ":", "-."], strict=False):
        names = ", ".join(t["label"] for t in results["targets"] if t["max_ratio"] == limit)
        ax.axvline(
            limit, color="#c44e52", linestyle=style, linewidth=1, label=f"target {limit}x: {names}"
        )
    ax.set_xlim(0, max(row["ratio"]["max"] for row in rows) * 1.12)
    ax.set_yticks(list(positions), labels)
    ax.invert_yaxis()
    ax.set_xlabel("time per request / bare Flask (median of repetitions; bars: min-max)")
    machine = results["machine"]
    ax.set_title(
        f"Protected GET as WSGI, Python {machine['python']}, {machine['cpu_count']} CPUs",
        fontsize=10,
    )
    fig.legend(loc="outside lower center", fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def print_table(rows: Sequence[dict[str, Any]]) -> None:
    """The request table, plain text, on stdout."""
    print(f"{'variant':42} {'median us':>10} {'min-max us':>16} {'ratio':>6} {'min-max':>12}")
    for row in rows:
        us, ratio = row["us"], row["ratio"]
        print(
            f"{row['label']:42} {us['median']:10.1f} "
            f"{us['min']:7.1f}-{us['max']:<8.1f} {ratio['median']:6.2f} "
            f"{ratio['min']:5.2f}-{ratio['max']:<6.2f}"
        )


def print_decodes(decodes: Sequence[dict[str, Any]]) -> None:
    """The decode microbenchmark, plain text, on stdout."""
    for row in decodes:
        ops = row["ops"]
        print(
            f"{row['label']:52} {ops['median']:9.0f} ops/s "
            f"(min {ops['min']:.0f}, max {ops['max']:.0f})"
        )


def target_line(target: dict[str, Any]) -> str:
    """One line saying whether a target is met."""
    verdict = "met" if target["met"] else "NOT met"
    return (
        f"target {target['label']} <= {target['max_ratio']}x bare Flask: {verdict} "
        f"(median ratio {target['ratio']:.2f}x)"
    )


def set_cookie_lines(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[str]:
    """For each variant that must not set a cookie on the timed GET, whether it did."""
    return [
        f"{row['label']} response Set-Cookie: {'yes' if row['set_cookie'] else 'no'}"
        for row in rows
        if row["key"] in keys
    ]


def busy_line(results: dict[str, Any]) -> str:
    """Wall and CPU time of the run and the load around it: how contended the machine was."""
    load = results["load_average"]
    return (
        f"run took {results['seconds']} s wall, {results['cpu_seconds']} s CPU; "
        f"1-min load average {load['start']} at start, {load['end']} at end "
        f"({results['machine']['cpu_count']} CPUs)"
    )
