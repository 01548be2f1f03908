#!/usr/bin/env python3
"""Sanity check of `vmm_pmr_bench --quick --backend=host` (the meson test bench_quick_sanity).

Runs the driver once with --json and --csv, then asserts that every row the host backend
must produce is present for every configured size, that no number is NaN or infinite,
that every time is positive and its percentiles ordered, that every ratio is positive
(and the baseline's exactly 1), that the CSV holds the same rows as the JSON, and that
the churn suite's memory_held series spans the trace and peaks where the rows say (with
three more churn runs of other seeds for that). It also checks that bad command lines
exit with status 2 and a message. Fast numbers are not checked: --quick shows that
everything works, not how fast.

usage: check_quick_report.py PATH/TO/vmm_pmr_bench WORK_DIR
"""
import json
import os
import subprocess
import sys

from report_checks import (check_csv, exit_on_failures, fail, load_report, refuse_constant,
                           run_bench)

EXPECTED_METHODS = {
    "latency": ["vmm_resource", "raw_sequence", "stream_ordered_resource", "mmap_munmap",
                "malloc_free"],
    "churn": ["vmm_resource", "raw_sequence", "stream_ordered_resource", "stream_ordered_bounded",
              "malloc_free"],
    "growth": ["raw_doubling_chunks", "raw_granule_chunks", "in_place", "in_place_unreserved",
               "device_vector_append", "std_vector_append", "vmm_resource_copy"],
    "streams": ["stream_ordered_resource", "stream_ordered_resource_rotating", "malloc_free"],
    "threads": ["stream_ordered_resource", "stream_ordered_resource_shared", "malloc_free"],
}
BASELINES = {"latency": "raw_sequence", "churn": "raw_sequence", "growth": "raw_doubling_chunks",
             "streams": "malloc_free", "threads": "malloc_free"}
FRAGMENTATION_METHODS = {"vmm_resource", "raw_sequence", "stream_ordered_resource",
                         "stream_ordered_bounded"}
POOLED_METHODS = {"stream_ordered_resource", "stream_ordered_bounded"}

def check_row(suite, row, repetitions):
    where = f"{suite['name']}/{row.get('method')}/{row.get('size_bytes', '-')}"
    stats = [row.get(key) for key in ("min", "p10", "median", "p90", "max")]
    if any(not isinstance(value, (int, float)) for value in stats):
        fail(f"{where}: missing or non-numeric statistics {stats}")
        return
    if stats[0] <= 0:
        fail(f"{where}: time {stats[0]} is not positive")
    if stats != sorted(stats):
        fail(f"{where}: statistics out of order (min, p10, median, p90, max) = {stats}")
    if row.get("samples") != repetitions:
        fail(f"{where}: {row.get('samples')} samples, expected {repetitions}")
    ratio = row.get("ratio")
    if not isinstance(ratio, (int, float)) or not ratio > 0:
        fail(f"{where}: ratio {ratio!r} is not a positive number")
    elif row["method"] == BASELINES[suite["name"]] and abs(ratio - 1) > 1e-12:
        fail(f"{where}: the baseline's ratio is {ratio}, not 1")


def check_suites(report):
    settings = report["settings"]
    suites = {suite["name"]: suite for suite in report["suites"]}
    for name in EXPECTED_METHODS:
        if name not in suites:
            fail(f"suite {name} missing from the report")
    granularity = report["environment"]["granularity_bytes"]

    for name, suite in suites.items():
        repetitions = settings[name]["repetitions"]
        if suite["baseline"]["method"] != BASELINES.get(name):
            fail(f"{name}: baseline {suite['baseline']['method']}, expected {BASELINES.get(name)}")
        for row in suite["rows"]:
            check_row(suite, row, repetitions)

    def expect(suite_name, sizes, thread_counts=(None,)):
        rows = suites.get(suite_name, {}).get("rows", [])
        for size in sizes:
            for threads in thread_counts:
                for method in EXPECTED_METHODS[suite_name]:
                    found = [r for r in rows if r["method"] == method
                             and r.get("size_bytes") == size and r.get("threads") == threads]
                    if len(found) != 1:
                        fail(f"{suite_name}: {len(found)} rows for {method} at size {size} and "
                             f"{threads} threads, expected 1")

    expect("latency", settings["latency"]["sizes_bytes"])
    expect("churn", [None])
    expect("streams", [None])
    expect("threads", settings["threads"]["sizes_bytes"], settings["threads"]["thread_counts"])
    check_threads(suites.get("threads", {}))
    finals = [-(-size // granularity) * granularity
              for size in settings["growth"]["final_sizes_bytes"]]
    expect("growth", finals)

    for row in suites.get("churn", {}).get("rows", []):
        frag = row.get("fragmentation")
        if row["method"] in FRAGMENTATION_METHODS and not (isinstance(frag, (int, float)) and frag >= 1):
            fail(f"churn/{row['method']}: fragmentation {frag!r}, expected a number >= 1")
        if row["method"] in POOLED_METHODS:
            for key in ("mapped_after_trim", "live_at_trim", "live_rounded_to_chunks",
                        "chunk_mappings_per_replay", "chunk_mappings_in_warmup"):
                if not isinstance(row.get(key), (int, float)):
                    fail(f"churn/{row['method']}: {key} missing")
            live, rounded = row.get("live_at_trim"), row.get("live_rounded_to_chunks")
            if isinstance(live, (int, float)) and isinstance(rounded, (int, float)) \
                    and rounded < live:
                fail(f"churn/{row['method']}: live rounded to chunks {rounded} < live {live}")
            for key in ("chunk_mappings_per_replay", "chunk_mappings_in_warmup"):
                value = row.get(key)
                if isinstance(value, (int, float)) and value < 0:
                    fail(f"churn/{row['method']}: {key} {value!r}")
    for row in suites.get("growth", {}).get("rows", []):
        for key in ("bytes_copied", "peak_bytes"):
            if not isinstance(row.get(key), (int, float)):
                fail(f"growth/{row['method']}: {key} missing")
        if row["method"].startswith("raw_") and row.get("bytes_copied") != 0:
            fail(f"growth/{row['method']}: the raw floor copied {row.get('bytes_copied')} bytes")
        if row["method"] == "vmm_resource_copy" and not row.get("bytes_copied", 0) > 0:
            fail("growth/vmm_resource_copy: copied nothing")
        if row["method"] == "in_place":
            if row.get("bytes_copied") != 0 or row.get("moves") != 0:
                fail(f"growth/in_place: copied {row.get('bytes_copied')}, moved {row.get('moves')}")
            if row.get("peak_bytes") != row.get("size_bytes"):
                fail(f"growth/in_place: peak {row.get('peak_bytes')}, expected the final "
                     f"{row.get('size_bytes')}")
        if row["method"].endswith("_append") and not row.get("ns_per_element", 0) > 0:
            fail(f"growth/{row['method']}: ns_per_element missing")
    # The raw floor is a baseline only if it is the least driver work for the same growth:
    # the buffer grown in place must make exactly its calls, counted in the run.
    growth_rows = suites.get("growth", {}).get("rows", [])
    for size in sorted({row["size_bytes"] for row in growth_rows}):
        calls = {row["method"]: row.get("driver_calls") for row in growth_rows
                 if row["size_bytes"] == size}
        floor, in_place = calls.get("raw_doubling_chunks"), calls.get("in_place")
        if not isinstance(floor, (int, float)) or floor <= 0 or floor != in_place:
            fail(f"growth to {size} B: driver calls per growth, raw floor {floor!r}, "
                 f"in place {in_place!r}: the floor must make exactly the buffer's calls")
    check_memory_held(suites.get("churn", {}), settings)
    for suite in suites.values():
        for note in suite.get("notes", []):
            if note.startswith("inconsistent"):
                fail(f"{suite['name']}: {note}")


def check_threads(suite):
    """Each threads row's pairs per second is its threads over its time per pair, and its
    scaling that over threads × the same method's one-thread figure at its size."""
    rows = suite.get("rows", [])
    one_thread = {(row["method"], row.get("size_bytes")): row.get("pairs_per_second")
                  for row in rows if row.get("threads") == 1}
    for row in rows:
        where = f"threads/{row['method']}/{row.get('size_bytes')}/{row.get('threads')}"
        rate, scaling = row.get("pairs_per_second"), row.get("scaling")
        threads, median = row.get("threads"), row.get("median")
        if not all(isinstance(value, (int, float)) for value in (rate, scaling, threads, median)):
            fail(f"{where}: pairs_per_second {rate!r}, scaling {scaling!r}")
            continue
        if abs(rate - threads * 1e6 / median) > 1e-6 * rate:
            fail(f"{where}: {rate} pairs/s, but {threads} threads at {median} µs a pair")
        base = one_thread.get((row["method"], row.get("size_bytes")))
        if isinstance(base, (int, float)) and abs(scaling - rate / (threads * base)) > 1e-9:
            fail(f"{where}: scaling {scaling}, expected {rate / (threads * base)}")


def check_memory_held(churn, settings):
    """The churn suite's memory_held series: a few hundred windows over the whole trace,
    a line per method that can say what it holds, each at or above the live bytes, and
    reaching the peak the method's row reports (a fresh resource's first replay reaches
    the same peak as the timed ones for the methods that keep nothing between replays)."""
    series = {entry["name"]: entry for entry in churn.get("series", [])}
    held = series.get("memory_held")
    if held is None:
        fail("churn: no memory_held series")
        return
    x = held["x"]
    operations = None
    for key, value in churn.get("parameters", {}).items():
        if key == "operations":
            operations = int(value.split()[0])
    if not 100 <= len(x) <= 300 or x != sorted(x) or (operations and x[-1] != operations):
        fail(f"churn/memory_held: x has {len(x)} points ending at {x[-1] if x else None}, "
             f"expected 100-300 ascending to {operations}")
    lines = {line["method"]: line["y"] for line in held["lines"]}
    for method in ("live_bytes", "vmm_resource", "stream_ordered_resource",
                   "stream_ordered_bounded"):
        if len(lines.get(method, [])) != len(x):
            fail(f"churn/memory_held: {method} has {len(lines.get(method, []))} points, "
                 f"x {len(x)}")
    live = lines.get("live_bytes", [])
    for method, y in lines.items():
        if any(held_bytes < live_bytes for held_bytes, live_bytes in zip(y, live)):
            fail(f"churn/memory_held: {method} holds less than the trace has live")
    # vmm_resource keeps nothing between replays: its fresh replay peaks where its row
    # does, and its row's fragmentation gives the trace's peak live bytes.
    vmm = {row["method"]: row for row in churn.get("rows", [])}.get("vmm_resource", {})
    peak, fragmentation = vmm.get("peak_bytes"), vmm.get("fragmentation")
    if lines.get("vmm_resource") and max(lines["vmm_resource"]) != peak:
        fail(f"churn/memory_held: vmm_resource peaks at {max(lines['vmm_resource'])}, "
             f"its row at {peak}")
    if live and isinstance(peak, int) and isinstance(fragmentation, float):
        if max(live) != round(peak / fragmentation):
            fail(f"churn/memory_held: live bytes peak at {max(live)}, the trace at "
                 f"{round(peak / fragmentation)}")


def check_other_traces(bench, work_dir):
    """The memory_held series of churn runs with other seeds: with one trace, its peak
    could fall at the end of a window by chance and hide a sampler that keeps each
    window's last value instead of its largest."""
    for seed in (1, 2, 3):
        path = os.path.join(work_dir, f"bench_quick_sanity_seed{seed}.json")
        command = [bench, "churn", "--quick", "--backend=host", "--no-progress",
                   f"--seed={seed}", f"--json={path}"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            fail(f"{' '.join(command)}: exit {result.returncode}: {result.stderr.strip()}")
            continue
        with open(path) as file:
            report = json.load(file, parse_constant=refuse_constant)
        check_memory_held(report["suites"][0], report["settings"])


def check_usage_errors(bench):
    for arguments, expected in [
        (["--reps=0"], "--reps"),
        (["--sizes=2MB"], "decimal units"),
        (["--backend=tpu"], "tpu not in {auto,cuda,host}"),
        (["--grow-to=1MiB"], "below 2 MiB"),
        (["no_such_suite"], "unknown suite"),
        (["--json"], "--json: 1 required FILE missing"),
        (["--bogus"], "not expected: --bogus"),
        (["--seed=-1"], "not a whole number"),
        (["--sizes=1.5GiB"], "is not a size"),
        (["--host-granularity=3MiB"], "not a power of two"),
        (["compare"], "OLD is required"),
    ]:
        result = subprocess.run([bench, *arguments], capture_output=True, text=True, timeout=30)
        if result.returncode != 2 or expected not in result.stderr:
            fail(f"{arguments}: exit {result.returncode}, stderr {result.stderr.strip()!r}; "
                 f"expected exit 2 and {expected!r}")
    for arguments in (["--help"], ["--list"]):
        result = subprocess.run([bench, *arguments], capture_output=True, text=True, timeout=30)
        if result.returncode != 0 or "latency" not in result.stdout:
            fail(f"{arguments}: exit {result.returncode}")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    bench, work_dir = sys.argv[1], sys.argv[2]
    json_path = os.path.join(work_dir, "bench_quick_sanity.json")
    csv_path = os.path.join(work_dir, "bench_quick_sanity.csv")
    command = [bench, "--quick", "--backend=host", "--no-progress",
               f"--json={json_path}", f"--csv={csv_path}"]
    run_bench(command, timeout=50)

    report = load_report(json_path)
    environment = report["environment"]
    if environment["backend"] != "host":
        fail(f"backend {environment['backend']!r}, expected 'host'")
    for key in ("date", "device", "driver", "build_type", "command"):
        if not environment.get(key):
            fail(f"environment.{key} is empty")
    check_suites(report)
    check_csv(csv_path, report, ("median", "p10", "p90", "min", "max", "ratio"),
              lambda row: f"{row.get('suite')}/{row.get('method')}")
    check_usage_errors(bench)
    check_other_traces(bench, work_dir)

    exit_on_failures()
    rows = sum(len(suite["rows"]) for suite in report["suites"])
    print(f"ok: {rows} rows in {len(report['suites'])} suites, all present, finite and positive")


if __name__ == "__main__":
    main()
