#!/usr/bin/env python3
"""A trace the C interface records replays in the bench (the meson test recorded_trace_replays).

Runs the C interface's test program in its `pools` mode, which records a pool's calls
(record=FILE on the host backend: allocations and frees on two streams, a free by
address, a refused allocation) and checks the rows; then replays that file with
`vmm_pmr_bench replay --backend=host` and asserts that every host allocator replayed
every allocate and free of the file, at the peak live the file itself gives, with the
refused allocation skipped and counted. A recorder that wrote what the replay cannot read
(another column order, a free before its allocation, a size that does not match) fails
here.

usage: check_recorded_replay.py C_INTERFACE_TEST VMM_PMR_BENCH WORK_DIR
"""
import csv
import json
import os
import subprocess
import sys

HOST_METHODS = ["stream_ordered_resource", "stream_ordered_bounded", "vmm_resource"]


def trace_facts(path):
    """(allocate and free rows, peak live bytes, failed allocations) read from the file."""
    events, failures, live, peak = 0, 0, {}, 0
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        if reader.fieldnames != ["Thread", "Time", "Action", "Pointer", "Size", "Stream"]:
            raise SystemExit(f"{path}: header {reader.fieldnames}, not RMM's log format")
        for row in reader:
            if row["Action"] == "allocate failure":
                failures += 1
                continue
            events += 1
            if row["Action"] == "allocate":
                live[row["Pointer"]] = int(row["Size"])
            else:
                live.pop(row["Pointer"], None)
            peak = max(peak, sum(live.values()))
    return events, peak, failures


def main():
    c_test, bench, work_dir = sys.argv[1:4]
    trace = os.path.join(work_dir, "recorded_trace_replays.csv")
    report = os.path.join(work_dir, "recorded_trace_replays.json")
    for path in (trace, report):
        if os.path.exists(path):
            os.remove(path)
    recorded = subprocess.run([c_test, "pools", trace], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "VMM_PMR_CONF": ""})
    if recorded.returncode != 0:
        raise SystemExit(f"{c_test} pools {trace}: exit {recorded.returncode}\n{recorded.stderr}")
    events, peak_live, failures = trace_facts(trace)
    if events == 0 or failures == 0:
        raise SystemExit(f"{trace}: {events} events and {failures} failed allocations; the "
                         "recording should hold both")

    replay = subprocess.run([bench, "replay", "--backend=host", "--no-progress", "--reps=1",
                             f"--trace={trace}", f"--json={report}"],
                            capture_output=True, text=True, timeout=120)
    if replay.returncode != 0:
        raise SystemExit(f"vmm_pmr_bench replay --trace={trace}: exit {replay.returncode}\n"
                         f"{replay.stderr}")
    with open(report) as file:
        suite = next(s for s in json.load(file)["suites"] if s["name"] == "replay")
    problems = []
    rows = {row["method"]: row for row in suite["rows"]}
    for method in HOST_METHODS:
        row = rows.get(method)
        if row is None:
            problems.append(f"no {method} row")
            continue
        if row.get("operations_per_sample") != events:
            problems.append(f"{method}: {row.get('operations_per_sample')} events replayed, the "
                            f"file holds {events}")
        if row.get("size_bytes") != peak_live:
            problems.append(f"{method}: peak live {row.get('size_bytes')}, the file gives "
                            f"{peak_live}")
    skipped = f"{failures} failed allocations skipped"
    printed = " ".join(replay.stdout.split())  # the report wraps its lines
    if skipped not in printed:
        problems.append(f"the replay does not say '{skipped}'")
    for problem in problems:
        print(f"FAILED: replay of the recorded trace: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{trace}: {events} events, peak live {peak_live} B, {failures} failed allocation "
          f"recorded; replayed by {', '.join(HOST_METHODS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
