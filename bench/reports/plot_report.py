#!/usr/bin/env python3
"""One chart per suite of a vmm_pmr_bench report (its --json), as PNG files.

    plot_report.py REPORT.json [--out DIR]

writes DIR/<report name>-<suite>.png (DIR: the report's folder) and prints each path.
What a chart shows follows from the suite's rows, so a new suite gets a chart too:
  - sampled series (the churn suite's memory held over its trace, the replay suite's over
    each recorded trace): one panel per series, one line per method against the trace's
    own live bytes, over the time per operation of every row;
  - rows with a thread count: throughput against the number of threads;
  - rows at two sizes or more (latency, growth): time against size on log-log axes, the
    10th-90th percentile as a band, over the ratio to the suite's baseline;
  - anything else (streams): one point per method, the spread as error bars.
Needs matplotlib (scripts/setup --plot installs python3-matplotlib).
"""
import argparse
import json
import math
import os
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter, FuncFormatter, LogLocator, NullFormatter
except ImportError:
    sys.exit("plot_report.py: matplotlib is missing (install python3-matplotlib, "
             "or run scripts/setup --plot)")

UNIT_SYMBOL = {"us": "µs", "ms": "ms", "ns": "ns", "s": "s"}
UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "ns": 1e-9, "s": 1.0}
BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"]


def format_bytes(value, _position=None):
    """256 B, 1 MiB, 1.5 GiB: the bench's own spelling of sizes."""
    if value <= 0:
        return "0 B"
    unit = 0
    while value >= 1024 and unit + 1 < len(BINARY_UNITS):
        value /= 1024
        unit += 1
    text = f"{value:.0f}" if value == int(value) else f"{value:.3g}"
    return f"{text} {BINARY_UNITS[unit]}"


def subtitle(report):
    environment = report.get("environment", {})
    settings = report.get("settings", {})
    parts = [f"{environment.get('backend', '?')} backend", environment.get("device", "?"),
             f"{environment.get('build_type', '?')} build", environment.get("date", "?")]
    if settings.get("quick"):
        parts.append("--quick: shows it works, not how fast")
    return ", ".join(parts)


def methods_in_order(rows):
    """(method, label) of every method, in the report's order."""
    seen = {}
    for row in rows:
        seen.setdefault(row["method"], row.get("label", row["method"]))
    return list(seen.items())


def time_label(suite):
    return f"{UNIT_SYMBOL.get(suite['unit'], suite['unit'])} per {suite['per']}"


def size_axis(axis, label, sizes):
    """A log2 size axis with ticks at measured sizes, far enough apart to be read: at
    least a tenth of the axis's octaves between two (the largest size always ticked)."""
    axis.set_xscale("log", base=2)
    measured = sorted(set(sizes))
    gap = max(1.0, (math.log2(measured[-1]) - math.log2(measured[0])) / 10)
    ticks = []
    for size in measured:
        if not ticks or math.log2(size) - math.log2(ticks[-1]) >= gap:
            ticks.append(size)
    if ticks[-1] != measured[-1]:
        if len(ticks) > 1 and math.log2(measured[-1]) - math.log2(ticks[-1]) < gap:
            ticks.pop()
        ticks.append(measured[-1])
    axis.set_xticks(ticks)
    axis.xaxis.set_major_formatter(FuncFormatter(format_bytes))
    axis.xaxis.set_minor_formatter(NullFormatter())
    axis.set_xlabel(label)


def log_axis(axis, which="y"):
    """A log10 axis labelled in plain numbers, at 1-2-5 steps while they fit (four
    decades or fewer), else at powers of ten. Call it after plotting the data."""
    (axis.set_yscale if which == "y" else axis.set_xscale)("log")
    low, high = axis.get_ylim() if which == "y" else axis.get_xlim()
    steps = (1.0, 2.0, 5.0) if math.log10(high / low) <= 4 else (1.0,)
    scale = axis.yaxis if which == "y" else axis.xaxis
    scale.set_major_locator(LogLocator(base=10, subs=steps))
    scale.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))


def finish(figure, axes, path):
    for axis in axes:
        axis.grid(True, which="major", color="#dddddd")
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_against_size(report, suite, path):
    rows = suite["rows"]
    figure, (times, ratios) = plt.subplots(
        2, 1, figsize=(11, 9), sharex=True, layout="constrained",
        gridspec_kw={"height_ratios": [3, 2]})
    figure.suptitle(f"vmm_pmr_bench {suite['name']}: {suite['title']}\n{subtitle(report)}",
                    fontsize=11)
    baseline = suite.get("baseline", {})
    for method, label in methods_in_order(rows):
        points = sorted((row["size_bytes"], row) for row in rows
                        if row["method"] == method and row.get("size_bytes") is not None)
        if not points:
            continue
        sizes = [size for size, _ in points]
        medians = [row["median"] for _, row in points]
        line, = times.plot(sizes, medians, marker="o", linewidth=1.8, label=label)
        times.fill_between(sizes, [row["p10"] for _, row in points],
                           [row["p90"] for _, row in points], color=line.get_color(), alpha=0.15)
        with_ratio = [(size, row["ratio"]) for size, row in points
                      if isinstance(row.get("ratio"), (int, float)) and row["ratio"] > 0]
        if with_ratio and method != baseline.get("method"):
            ratios.plot([s for s, _ in with_ratio], [r for _, r in with_ratio], marker="o",
                        linewidth=1.5, color=line.get_color(), label=label)
    times.set_title("median; the band is the 10th-90th percentile", fontsize=10)
    times.set_ylabel(time_label(suite))
    log_axis(times)
    ratios.axhline(1.0, color="#555555", linewidth=1, linestyle="--",
                   label=baseline.get("label", "baseline"))
    ratios.set_ylabel(f"median / {baseline.get('label', 'baseline')}")
    log_axis(ratios)
    size_axis(ratios, "final size" if suite["name"] == "growth" else "size",
              [row["size_bytes"] for row in rows if row.get("size_bytes") is not None])
    times.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
    ratios.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
    finish(figure, [times, ratios], path)


def dot_plot(axis, suite, rows, labels):
    """One point per row at its median, the 10th-90th percentile as error bars, on a log
    axis (where bars would start at an arbitrary value); the baseline in grey."""
    baseline = suite.get("baseline", {}).get("method")
    for position, (row, label) in enumerate(zip(rows, labels)):
        colour = "#888888" if row["method"] == baseline else "#1f5fa8"
        axis.errorbar([row["median"]], [position],
                      xerr=[[row["median"] - row["p10"]], [row["p90"] - row["median"]]],
                      fmt="o", color=colour, markersize=7, capsize=4, linewidth=1.5)
        axis.annotate(f"{row['median']:.3g}", (row["median"], position), xytext=(0, 7),
                      textcoords="offset points", ha="center", fontsize=8, color=colour)
    axis.set_yticks(range(len(rows)), labels, fontsize=9)
    axis.set_ylim(len(rows) - 0.5, -0.7)
    axis.set_xlabel(f"{time_label(suite)}: median, 10th-90th percentile as error bars"
                    + ("; grey: the baseline" if baseline else ""))
    log_axis(axis, "x")


def plot_series(report, suite, path):
    """Each series in a panel of its own (the replay suite has one per trace), over the
    time per operation of every row."""
    all_series = suite["series"]
    rows = suite["rows"]
    figure = plt.figure(figsize=(11, 7 + 4 * len(all_series)), layout="constrained")
    figure.suptitle(f"vmm_pmr_bench {suite['name']}: {suite['title']}\n{subtitle(report)}",
                    fontsize=11)
    # Subfigures lay out apart: the long method names left of the lower panel must not
    # narrow the upper ones.
    upper, lower = figure.subfigures(2, 1, height_ratios=[3 * len(all_series), 2])
    panels = upper.subplots(len(all_series), 1, squeeze=False)[:, 0]
    times = lower.subplots()
    # A line's label is its row's: the row's peak over peak live goes beside it.
    peak_over_live = {row.get("label", row["method"]):
                      row.get("fragmentation", row.get("peak_held_per_live")) for row in rows}
    mib = 1024 * 1024
    for held, series in zip(panels, all_series):
        for line in series["lines"]:
            label = line["label"]
            ratio = peak_over_live.get(label)
            if isinstance(ratio, (int, float)):
                label += f"; peak / peak live {ratio:.2f} in the timed replays"
            style = {"color": "black", "linestyle": "--", "linewidth": 1.5} \
                if line["method"] == "live_bytes" else {"linewidth": 1.6}
            held.plot(series["x"], [y / mib for y in line["y"]], label=label, **style)
        held.set_title(series["title"], fontsize=10)
        held.set_xlabel(series["x_label"])
        held.set_ylabel(series["y_label"].replace("bytes", "MiB"))
        held.set_ylim(bottom=0)
        held.set_xlim(0, max(series["x"]))
        held.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=1, fontsize=9)
    dot_plot(times, suite, rows, [row.get("label", row["method"]) for row in rows])
    finish(figure, [*panels, times], path)


def plot_against_threads(report, suite, path):
    rows = suite["rows"]
    figure, axis = plt.subplots(figsize=(11, 6), layout="constrained")
    figure.suptitle(f"vmm_pmr_bench {suite['name']}: {suite['title']}\n{subtitle(report)}",
                    fontsize=11)
    seconds = UNIT_SECONDS.get(suite["unit"], 1.0)
    per_thread = "per thread" in suite["per"]
    sizes = sorted({row.get("size_bytes") for row in rows}, key=lambda size: size or 0)
    for size in sizes:
        for method, label in methods_in_order(rows):
            points = sorted(((row["threads"], row) for row in rows
                             if row["method"] == method and row.get("threads")
                             and row.get("size_bytes") == size), key=lambda point: point[0])
            if not points:
                continue
            threads = [count for count, _ in points]
            # Time per operation in each thread: the threads together do `count` times as many.
            throughput = [(count if per_thread else 1) / (row["median"] * seconds)
                          for count, row in points]
            if len(sizes) > 1:
                label = f"{label}, {format_bytes(size)}"
            axis.plot(threads, throughput, marker="o", linewidth=1.8, label=label)
    operation = suite["per"].replace(" per thread", "")
    axis.set_xlabel("threads")
    axis.set_ylabel(f"{operation}s per second, all threads (from the median)")
    axis.set_xscale("log", base=2)
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    log_axis(axis)
    axis.yaxis.set_major_formatter(EngFormatter(sep=" "))  # 2 M, not 2e+06
    axis.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
    finish(figure, [axis], path)


def plot_points(report, suite, path):
    rows = suite["rows"]
    figure, axis = plt.subplots(figsize=(11, 1.6 + 0.55 * len(rows)), layout="constrained")
    figure.suptitle(f"vmm_pmr_bench {suite['name']}: {suite['title']}\n{subtitle(report)}",
                    fontsize=11)
    labels = [row.get("label", row["method"]) +
              (f", {format_bytes(row['size_bytes'])}" if row.get("size_bytes") else "")
              for row in rows]
    dot_plot(axis, suite, rows, labels)
    finish(figure, [axis], path)


def chart_kind(suite):
    rows = suite.get("rows", [])
    if suite.get("series"):
        return plot_series
    if any(isinstance(row.get("threads"), int) for row in rows):
        return plot_against_threads
    if len({row.get("size_bytes") for row in rows if row.get("size_bytes") is not None}) >= 2:
        return plot_against_size
    return plot_points


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", help="a vmm_pmr_bench --json report")
    parser.add_argument("--out", help="folder for the PNG files (default: the report's)")
    arguments = parser.parse_args()
    try:
        with open(arguments.report) as file:
            report = json.load(file)
    except (OSError, ValueError) as failure:
        sys.exit(f"plot_report.py: cannot read the report {arguments.report!r}: {failure}")
    if report.get("tool") != "vmm_pmr_bench" or not isinstance(report.get("suites"), list):
        sys.exit(f"plot_report.py: {arguments.report!r} is not a vmm_pmr_bench --json report")
    out = arguments.out or os.path.dirname(os.path.abspath(arguments.report))
    os.makedirs(out, exist_ok=True)
    stem = os.path.splitext(os.path.basename(arguments.report))[0]
    if not report["suites"]:
        sys.exit(f"plot_report.py: {arguments.report!r} holds no suite")
    for suite in report["suites"]:
        if not suite.get("rows"):
            print(f"plot_report.py: {suite['name']} has no rows, no chart", file=sys.stderr)
            continue
        path = os.path.join(out, f"{stem}-{suite['name']}.png")
        chart_kind(suite)(report, suite, path)
        print(path)


if __name__ == "__main__":
    main()
