"""Presenting a run: plain text on stdout; for full runs JSON, markdown and a bar chart."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def write_json(results: dict[str, Any], path: Path) -> None:
    """Every number of the run, raw repetitions included."""
    path.write_text(json.dumps(results, indent=2) + "\n")


def _request_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "| variant | median µs/request | min-max µs | ratio to bare Flask (median of rounds) "
        "| ratio min-max (repetitions) | ratio per repetition | Set-Cookie |",
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
    authjs = any("ratio_to_authjs" in row for row in decodes)
    lines = [
        "| decoder | median ops/s | min-max ops/s |"
        + (" ratio to @auth/core (median) | ratio min-max |" if authjs else ""),
        "|---|---:|---:|" + ("---:|---:|" if authjs else ""),
    ]
    for row in decodes:
        ops = row["ops"]
        line = f"| {row['label']} | {ops['median']:.0f} | {ops['min']:.0f}-{ops['max']:.0f} |"
        if authjs:
            ratio = row["ratio_to_authjs"]
            line += f" {ratio['median']:.1f}x | {ratio['min']:.1f}-{ratio['max']:.1f} |"
        lines.append(line)
    return lines


def _signin_table(signins: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "| strategy | median sign-ins/s | min-max sign-ins/s | median ms per sign-in |",
        "|---|---:|---:|---:|",
    ]
    for row in signins:
        rate = row["rate"]
        lines.append(
            f"| {row['label']} | {rate['median']:.0f} | {rate['min']:.0f}-{rate['max']:.0f} "
            f"| {1000 / rate['median']:.2f} |"
        )
    return lines


def _mib(value: float) -> str:
    return f"{value / 2**20:.1f} MiB"


def _memory_lines(memory: dict[str, Any]) -> list[str]:
    cache = memory["cache"]
    samples = ", ".join(
        f"{point['requests']:,}: {point['rss'] / 2**20:.1f}" for point in memory["samples"]
    )
    return [
        f"{memory['requests']:,} requests over {memory['distinct']:,} distinct session cookies "
        f"(each a real token, cycled in order), JWT strategy as WSGI, {memory['seconds']} s."
        + (
            ""
            if memory["requests"] >= 1_000_000
            else " Fewer than the 1,000,000 of the target, to keep the full run short (every "
            "request here is a full decrypt); `run.py --memory --memory-requests 1000000` "
            "runs those."
        ),
        "",
        f"- RSS before the first request {_mib(memory['rss_start'])}; after "
        f"{memory['first_requests']:,} requests (the token cache full) "
        f"{_mib(memory['rss_first'])}, at the end {_mib(memory['rss_last'])}: "
        f"{memory['rss_growth'] / 2**20:+.1f} MiB ({'flat' if memory['flat'] else 'GROWING'}; "
        f"flat means at most {_mib(memory['flat_bytes'])}); highest sample "
        f"{_mib(memory['rss_highest'])}.",
        f"- RSS in MiB after N requests: {samples}.",
        f"- Decoded-token cache: {cache['currsize']} entries of at most {cache['maxsize']} "
        f"(`TOKEN_CACHE_SIZE` {cache['configured']}), {cache['hits']:,} hits, "
        f"{cache['misses']:,} misses; parsed `Cookie` headers kept: "
        f"{memory['header_cache']['currsize']} of at most {memory['header_cache']['maxsize']}: "
        f"{'bounded' if memory['bounded'] else 'NOT bounded'}.",
    ]


def _median_latency(row: dict[str, Any], key: str) -> float:
    """The median over an app's runs of one latency percentile, in ms."""
    return statistics.median(lat[key] for lat in row["latency_runs_us"]) / 1000


def _http_table(http: dict[str, Any]) -> list[str]:
    lines = [
        "| app | requests/s (mean) | ratio to bare Flask (median of rounds) | ratio per round "
        "| p50 ms (median) | p99 ms (median) | requests | errors | worker CPU µs/request "
        "| ratio | Set-Cookie |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in http["rows"]:
        per_round = " ".join(f"{value:.2f}" for value in row["ratio_runs"])
        lines.append(
            f"| {row['label']} | {row['rps']:.0f} | {row['ratio']:.2f}x | {per_round} "
            f"| {_median_latency(row, 'p50'):.2f} | {_median_latency(row, 'p99'):.2f} "
            f"| {row['requests']} | {row['errors']} | {row['worker_cpu_us']:.0f} "
            f"| {row['worker_cpu_ratio']:.2f}x | {'yes' if row['set_cookie'] else 'no'} |"
        )
    return lines


def _http_lines(http: dict[str, Any]) -> list[str]:
    plan = http["plan"]
    cpu = [run["cpu"] for row in http["rows"] for run in row["runs"]]
    workers = sum(c["workers"] for c in cpu) / len(cpu)
    wrk = sum(c["wrk"] for c in cpu) / len(cpu)
    return [
        f"Every app served at once by gunicorn, {plan['workers']} sync workers each on "
        f"127.0.0.1, checked and warmed up ({plan['warmup']} s of untimed wrk); then "
        f"{plan['rounds']} rounds, in each of which every app in turn (the order rotated "
        f"per round) was loaded by `wrk -t{plan['threads']} -c{plan['connections']} "
        f"-d{plan['duration']}s --latency`. An app's ratio is the median over the rounds of "
        "its requests/s over bare Flask's in the same round; requests/s is the mean of its "
        "runs. Sync workers close the connection after every response, so each request is a "
        "new TCP connection.",
        "",
        f"wrk, gunicorn's master and workers (and PostgreSQL, for its app) share the machine's "
        f"{http['cpu_count']} CPUs: in a {plan['duration']} s run the workers used "
        f"{workers:.1f} CPU s and wrk {wrk:.1f} on average, of "
        f"{http['cpu_count'] * plan['duration']} available. The worker CPU column is the "
        "workers' CPU time per request (its ratio the median of the paired ratios): the "
        "server's own cost, less sensitive than requests/s to how the CPUs were shared.",
        "",
        *_http_table(http),
        "",
        f"Each app was checked with {plan['checks']} requests before its first load and after "
        "its last (200, "
        "the user's name, no Set-Cookie from flask-sessionext); wrk reported no errors and its "
        "bytes read match that many checked responses.",
    ]


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
    """The tables of a run, the machine it ran on, how busy it was, and the target verdicts."""
    plan = results["plan"]
    lines = [
        "# Benchmark results",
        "",
        *_machine(results["machine"]),
        f"- {_sentence(busy_line(results))}: a CPU time of the WSGI part well below its wall "
        "time (PostgreSQL's share aside), or a load above the CPU count, means other work "
        "competed with the run and the ratios are less sure.",
        "",
        "## Targets",
        "",
        *(f"- {target_line(target)}." for target in results["targets"]),
        "",
        "## Protected GET as WSGI, cost relative to bare Flask",
        "",
        f"{plan['reps']} repetitions of {plan['slices']} interleaved rounds; {plan['calls']} "
        f"requests per variant per repetition, {plan['warmup']} untimed warm-up calls each. "
        "The ratio is the median over every round of the variant's time over bare Flask's in "
        "the same round; min-max and the per-repetition ratios compare repetition means. "
        "Method: bench/README.md.",
        "",
        *_request_table(results["requests"]),
        "",
        *(
            f"- {line} (checked in the run)."
            for line in set_cookie_lines(results["requests"], results["no_set_cookie"])
        ),
        "",
        "## Over HTTP: gunicorn and wrk",
        "",
        *(_http_lines(results["http"]) if results.get("http") else ["Not in this run."]),
        "",
        "## Token decode alone",
        "",
        f"{plan['decodes']} decodes per Python decoder per repetition, "
        f"{plan['node_decodes']} for @auth/core (single flight: each awaited before the next), "
        f"{plan['reps']} repetitions, the decoders taking turns; one token, encoded once.",
        "",
        *_decode_table(results["decode"]),
        "",
        "## Credentials sign-in",
        "",
        f"`POST /api/auth/callback/credentials` (CSRF check, `authorize`, session token or row, "
        f"302) after one `GET /api/auth/csrf`, as WSGI; {plan['signins']} sign-ins per "
        f"strategy per repetition, {plan['reps']} repetitions.",
        "",
        *_signin_table(results["signin"]),
        "",
        "## Memory",
        "",
        *(_memory_lines(results["memory"]) if results.get("memory") else ["Not in this run."]),
        "",
        "## Instructions per request (callgrind)",
        "",
        "Each variant in a child process under `valgrind --tool=callgrind`, "
        "`PYTHONHASHSEED=0`: the same set-up and 100 warm-up requests, then 1000 requests "
        "through the WSGI timing loop or none; the difference of the two totals over 1000. "
        "The machine's load does not move these counts.",
        "",
        *(
            _instruction_lines(results["instructions"])
            if results.get("instructions")
            else ["Not in this run."]
        ),
        "",
        "## Notes",
        "",
        *(f"- {note}." for note in results["notes"]),
        "",
    ]
    path.write_text("\n".join(lines))


def write_chart(results: dict[str, Any], path: Path) -> None:
    """Bar charts: WSGI cost ratio, HTTP requests/s ratio, decodes/s, each with its target.

    matplotlib is imported here, so smoke runs do not need it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["requests"]
    http = results.get("http")
    decodes = results["decode"]
    heights = [len(rows), len(http["rows"]) if http else 0, len(decodes)]
    fig, axes = plt.subplots(
        len([h for h in heights if h]),
        1,
        figsize=(10, 2.4 + 0.42 * sum(heights)),
        layout="constrained",
        height_ratios=[h + 1.5 for h in heights if h],
    )
    axes = list(axes)
    _wsgi_panel(axes.pop(0), results)
    if http:
        _http_panel(axes.pop(0), http)
    _decode_panel(axes.pop(0), decodes)
    machine = results["machine"]
    fig.suptitle(
        f"flask-sessionext benchmark, Python {machine['python']}, {machine['cpu_count']} CPUs "
        f"(git {machine['revision']})",
        fontsize=10,
    )
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _color(key: str) -> str:
    return "#dd8452" if key.startswith(("sessionext", "signin")) else "#4c72b0"


def _wsgi_panel(ax: Any, results: dict[str, Any]) -> None:
    rows = results["requests"]
    labels = [row["label"] for row in rows]
    medians = [row["ratio"]["median"] for row in rows]
    # The median is over rounds, the bars over repetitions: it can lie just outside them.
    below = [max(0.0, row["ratio"]["median"] - row["ratio"]["min"]) for row in rows]
    above = [max(0.0, row["ratio"]["max"] - row["ratio"]["median"]) for row in rows]
    positions = range(len(rows))
    colors = [_color(row["key"]) for row in rows]
    ax.barh(positions, medians, xerr=[below, above], color=colors, capsize=3)
    for y, row in zip(positions, rows, strict=True):
        ratio = row["ratio"]
        ax.text(ratio["max"], y, f"  {ratio['median']:.2f}x", va="center", fontsize=8)
    ax.axvline(1.0, color="grey", linewidth=0.8)
    targets = [t for t in results["targets"] if t.get("group") == "wsgi"]
    limits = sorted({t["max_ratio"] for t in targets})
    for limit, style in zip(limits, ["--", ":", "-.", (0, (5, 1))], strict=False):
        names = ", ".join(t["label"] for t in targets if t["max_ratio"] == limit)
        ax.axvline(
            limit, color="#c44e52", linestyle=style, linewidth=1, label=f"target {limit}x: {names}"
        )
    ax.set_xlim(0, max(row["ratio"]["max"] for row in rows) * 1.12)
    ax.set_yticks(list(positions), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(
        "protected GET as WSGI: time per request / bare Flask (median of paired rounds; "
        "bars: min-max of repetitions; lower is better)",
        fontsize=8,
    )
    ax.legend(loc="center right", fontsize=7)


def _http_panel(ax: Any, http: dict[str, Any]) -> None:
    from http_load import HTTP_TARGETS

    rows = http["rows"]
    positions = range(len(rows))
    ratios = [row["ratio"] for row in rows]
    ax.barh(positions, ratios, color=[_color(row["key"]) for row in rows])
    for y, row in zip(positions, rows, strict=True):
        ax.plot(row["ratio_runs"], [y] * len(row["ratio_runs"]), "k.", markersize=4)
    for y, row in zip(positions, rows, strict=True):
        ax.text(
            max(row["ratio_runs"]),
            y,
            f"  {row['ratio']:.2f}x ({row['rps']:.0f}/s)",
            va="center",
            fontsize=8,
        )
    for (strategy, goal), style in zip(HTTP_TARGETS.items(), ("--", ":"), strict=True):
        ax.axvline(
            goal,
            color="#c44e52",
            linestyle=style,
            linewidth=1,
            label=f"target >= {goal}x (flask-sessionext, {strategy})",
        )
    ax.set_xlim(0, max(ratios) * 1.3)
    ax.set_yticks(list(positions), [row["label"] for row in rows], fontsize=8)
    ax.invert_yaxis()
    plan = http["plan"]
    ax.set_xlabel(
        f"over HTTP: requests/s / bare Flask's (gunicorn, {plan['workers']} sync workers; "
        f"wrk -t{plan['threads']} -c{plan['connections']} -d{plan['duration']}s; "
        f"{http['cpu_count']} CPUs shared; dots: runs; higher is better)",
        fontsize=8,
    )
    ax.legend(loc="lower right", fontsize=7)


def _decode_panel(ax: Any, decodes: Sequence[dict[str, Any]]) -> None:
    positions = range(len(decodes))
    medians = [row["ops"]["median"] for row in decodes]
    below = [row["ops"]["median"] - row["ops"]["min"] for row in decodes]
    above = [row["ops"]["max"] - row["ops"]["median"] for row in decodes]
    colors = [_color(row["key"]) for row in decodes]
    ax.barh(positions, medians, xerr=[below, above], color=colors, capsize=3)
    for y, row in zip(positions, decodes, strict=True):
        text = f"  {row['ops']['median']:.0f}/s"
        if "ratio_to_authjs" in row:
            text += f" ({row['ratio_to_authjs']['median']:.1f}x @auth/core)"
        ax.text(row["ops"]["max"], y, text, va="center", fontsize=8)
    ax.set_xlim(0, max(row["ops"]["max"] for row in decodes) * 1.45)
    ax.set_yticks(list(positions), [row["label"] for row in decodes], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(
        "token decode alone: decodes/s (median; bars: min-max; target: sessionext >= 10x "
        "@auth/core; higher is better)",
        fontsize=8,
    )


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
        ratio = row.get("ratio_to_authjs")
        versus = f", {ratio['median']:.1f}x @auth/core" if ratio else ""
        print(
            f"{row['label']:58} {ops['median']:9.0f} ops/s "
            f"(min {ops['min']:.0f}, max {ops['max']:.0f}{versus})"
        )


def print_signins(signins: Sequence[dict[str, Any]]) -> None:
    """Credentials sign-ins per second, plain text, on stdout."""
    for row in signins:
        rate = row["rate"]
        print(
            f"sign-in, {row['label']:40} {rate['median']:7.0f}/s "
            f"(min {rate['min']:.0f}, max {rate['max']:.0f}; {1000 / rate['median']:.2f} ms each)"
        )


def _instruction_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = ["| variant | instructions per request | ratio to bare Flask |", "|---|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['label']} | {row['instructions']:,} | {row['ratio']:.2f}x |")
    return lines


def print_instructions(rows: Sequence[dict[str, Any]]) -> None:
    """The instruction counts, plain text, on stdout."""
    print(f"{'instructions (callgrind)':50} {'per request':>12} {'ratio':>6}")
    for row in rows:
        print(f"{row['label']:50} {row['instructions']:12,} {row['ratio']:6.2f}")


def print_memory(memory: dict[str, Any]) -> None:
    """The memory part, plain text, on stdout."""
    for line in _memory_lines(memory):
        if line:
            print(line.removeprefix("- "))


def print_http(http: dict[str, Any]) -> None:
    """The HTTP table, plain text, on stdout."""
    print(
        f"{'over HTTP':42} {'requests/s':>16} {'ratio':>6} {'p50 ms':>11} {'p99 ms':>11} "
        f"{'worker us/req':>13} {'ratio':>6}"
    )
    for row in http["rows"]:
        print(
            f"{row['label']:42} {row['rps']:16.0f} {row['ratio']:6.2f} "
            f"{_median_latency(row, 'p50'):11.1f} {_median_latency(row, 'p99'):11.1f} "
            f"{row['worker_cpu_us']:13.0f} {row['worker_cpu_ratio']:6.2f}"
        )


def target_line(target: dict[str, Any]) -> str:
    """One line saying whether a target is met."""
    verdict = "met" if target["met"] else "NOT met"
    goal = f" {target['goal']}" if target["goal"] else ""
    return f"target {target['what']}{goal}: {verdict} ({target['shown']})"


def set_cookie_lines(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[str]:
    """For each variant that must not set a cookie on the timed GET, whether it did."""
    return [
        f"{row['label']} response Set-Cookie: {'yes' if row['set_cookie'] else 'no'}"
        for row in rows
        if row["key"] in keys
    ]


def busy_line(results: dict[str, Any]) -> str:
    """Wall and CPU time of the WSGI part and the load around it: how contended the machine was.

    Only the WSGI part runs in this process alone; the other parts wait on Node, gunicorn,
    wrk or PostgreSQL, so their CPU time is not this process's.
    """
    load, wsgi = results["load_average"], results["wsgi"]
    return (
        f"run took {results['seconds']} s wall; its WSGI part {wsgi['seconds']} s wall, "
        f"{wsgi['cpu_seconds']} s CPU; 1-min load average {load['start']} at start, "
        f"{wsgi['load_average_end']} after the WSGI part, {load['end']} at end "
        f"({results['machine']['cpu_count']} CPUs)"
    )
