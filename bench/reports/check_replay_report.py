#!/usr/bin/env python3
"""Check of the replay suite on the shipped traces (the meson test bench_replay_trace).

Runs `vmm_pmr_bench replay --backend=host` on every trace in traces/ with --json and
--csv, then asserts, for each trace: a row for every host allocator; the trace's events
and peak live are those traces/README.md gives; every allocator held at least that at its
peak, and no more after trim() than at its peak; every number finite and every time
positive; the driver calls counted for the VMM rows; the memory_held series spans the
trace, one line per allocator, never below the live bytes; and, for the whole report, the
CSV holds the JSON's rows; no "inconsistent" note; and the chart draws (when a Python
with matplotlib is here). Then that bad command lines and a bad trace are refused with a
message, and that a made-up trace of two threads on two streams, each freeing what the
other allocated, replays. Fast numbers are not checked.

usage: check_replay_report.py PATH/TO/vmm_pmr_bench SOURCE_ROOT WORK_DIR [PLOT_SCRIPT]
"""
import json
import os
import subprocess
import sys

from report_checks import (check_csv, exit_on_failures, fail, load_report,
                           python_with_matplotlib, run_bench)

# traces/README.md: events replayed (rows of 0 bytes are skipped) and peak live, per trace.
TRACES = {
    "pytorch-gpt-train": {"events": 61654, "peak_live_mib": 18154},
    "pytorch-gpt-train-side-stream": {"events": 29643, "peak_live_mib": 18359},
    "pytorch-kv-cache-serving": {"events": 316212, "peak_live_mib": 429},
}
TRACE = os.path.join("traces", "pytorch-gpt-train.csv.gz")  # for the refusals
HOST_METHODS = ["stream_ordered_resource", "stream_ordered_bounded", "vmm_resource"]
COUNTED_METHODS = HOST_METHODS  # on a counting backend: driver calls known
MIB = 1 << 20

def number(row, key):
    value = row.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        fail(f"replay/{row.get('method')}: {key} is {value!r}, not a number")
        return None
    return value


def rows_by_trace(suite):
    """{trace: {method: row}}: a row's label ends with " on TRACE"."""
    traces = {}
    for row in suite["rows"]:
        trace = row.get("label", "").rpartition(" on ")[2]
        methods = traces.setdefault(trace, {})
        if row["method"] in methods:
            fail(f"replay/{trace}: two {row['method']} rows")
        methods[row["method"]] = row
    return traces


def check_rows(trace, rows, baseline, repetitions):
    expected = TRACES[trace]
    peak_live_mib, events = expected["peak_live_mib"], expected["events"]
    for method in HOST_METHODS:
        if method not in rows:
            fail(f"replay/{trace}: no {method} row")
    for method, row in rows.items():
        peak_live = number(row, "size_bytes")
        if peak_live is not None and round(peak_live / MIB) != peak_live_mib:
            fail(f"replay/{trace}/{method}: the trace's peak live is {peak_live / MIB:.1f} MiB, the "
                 f"README says {peak_live_mib} MiB")
        stats = [number(row, key) for key in ("min", "p10", "median", "p90", "max")]
        if None not in stats:
            if stats[0] <= 0:
                fail(f"replay/{trace}/{method}: time {stats[0]} is not positive")
            if stats != sorted(stats):
                fail(f"replay/{trace}/{method}: statistics out of order {stats}")
        if row.get("samples") != repetitions:
            fail(f"replay/{trace}/{method}: {row.get('samples')} samples, expected {repetitions}")
        if row.get("operations_per_sample") != events:
            fail(f"replay/{trace}/{method}: {row.get('operations_per_sample')} events per replay, "
                 f"expected {events}")
        cold = number(row, "cold_us_per_op")
        if cold is not None and cold <= 0:
            fail(f"replay/{trace}/{method}: cold µs/op {cold}")
        peak, trimmed = number(row, "peak_bytes"), number(row, "held_after_trim")
        if peak is not None and peak_live is not None and peak < peak_live:
            fail(f"replay/{trace}/{method}: peak held {peak} < the trace's peak live {peak_live}")
        if peak is not None and trimmed is not None and trimmed > peak:
            fail(f"replay/{trace}/{method}: held after trim {trimmed} > held at peak {peak}")
        ratio = number(row, "peak_held_per_live")
        if ratio is not None and peak is not None and peak_live \
                and abs(ratio - peak / peak_live) > 1e-9 * ratio:
            fail(f"replay/{trace}/{method}: peak/live {ratio} is not peak {peak} / live {peak_live}")
        if method in COUNTED_METHODS:
            cold_calls = number(row, "driver_calls_cold")
            per_gib = number(row, "driver_calls_per_gib_mapped")
            steady = number(row, "driver_calls_per_replay")
            if cold_calls is not None and cold_calls <= 0:
                fail(f"replay/{trace}/{method}: no driver call counted in the cold replay")
            if per_gib is not None and per_gib <= 0:
                fail(f"replay/{trace}/{method}: driver calls per GiB mapped {per_gib}")
            if steady is not None and steady < 0:
                fail(f"replay/{trace}/{method}: driver calls per replay {steady}")
    # vmm_resource keeps nothing: every replay makes the same calls as the cold one.
    vmm = rows.get("vmm_resource", {})
    if vmm.get("driver_calls_cold") != vmm.get("driver_calls_per_replay"):
        fail(f"replay/{trace}/vmm_resource: {vmm.get('driver_calls_cold')} calls cold, "
             f"{vmm.get('driver_calls_per_replay')} per later replay: they must be equal")
    if rows.get(baseline, {}).get("ratio") != 1:
        fail(f"replay/{trace}: the baseline {baseline}'s ratio is "
             f"{rows.get(baseline, {}).get('ratio')!r}")


def check_memory_held(suite, trace, rows):
    peak_live_mib, events = TRACES[trace]["peak_live_mib"], TRACES[trace]["events"]
    series = {entry["name"]: entry for entry in suite.get("series", [])}
    held = series.get(f"memory_held:{trace}")
    if held is None:
        fail(f"replay/{trace}: no memory_held:{trace} series (has {sorted(series)})")
        return
    x = held["x"]
    if not 100 <= len(x) <= 300 or x != sorted(x) or not x or x[-1] != events:
        fail(f"replay/{trace}/memory_held: x has {len(x)} points ending at {x[-1] if x else None}, "
             f"expected 100-300 ascending to {events}")
    lines = {line["method"]: line["y"] for line in held["lines"]}
    for method in ["live_bytes"] + HOST_METHODS:
        if len(lines.get(method, [])) != len(x):
            fail(f"replay/{trace}/memory_held: {method} has {len(lines.get(method, []))} points, "
                 f"x {len(x)}")
    live = lines.get("live_bytes", [])
    if live and round(max(live) / MIB) != peak_live_mib:
        fail(f"replay/{trace}/memory_held: live bytes peak at {max(live) / MIB:.1f} MiB")
    for method, y in lines.items():
        if any(held_bytes < live_bytes for held_bytes, live_bytes in zip(y, live)):
            fail(f"replay/{trace}/memory_held: {method} holds less than the trace has live")
        peak = rows.get(method, {}).get("peak_bytes")
        if y and isinstance(peak, int) and max(y) > peak:
            fail(f"replay/{trace}/memory_held: {method} peaks at {max(y)} on a fresh instance, above "
                 f"its row's peak over every replay {peak}")


def check_chart(plot_script, report_path, work_dir):
    python = python_with_matplotlib()
    if python is None:
        print("no chart checked: no Python here has matplotlib")
        return
    out = os.path.join(work_dir, "replay_plots")
    result = subprocess.run([python, plot_script, report_path, "--out", out],
                            capture_output=True, text=True, timeout=100)
    stem = os.path.splitext(os.path.basename(report_path))[0]
    chart = os.path.join(out, f"{stem}-replay.png")
    if result.returncode != 0 or not os.path.exists(chart) or os.path.getsize(chart) < 10000:
        fail(f"plot_report.py: exit {result.returncode}, {chart} "
             f"{'missing' if not os.path.exists(chart) else 'too small'}: {result.stderr.strip()}")


def check_refusals(bench, work_dir):
    bad_trace = os.path.join(work_dir, "bench_replay_bad_trace.csv")
    with open(bad_trace, "w") as file:
        file.write("Thread,Time,Action,Pointer,Size,Stream\n"
                   "1,00:00:00.000001,allocate,0x10,4096,0\n"
                   "1,00:00:00.000002,free,0x20,4096,0\n")
    for arguments, status, expected in [
        (["replay"], 2, "replay needs a trace: --trace=FILE"),
        (["latency", f"--trace={TRACE}"], 2, "--trace is read by the replay suite only"),
        (["replay", "--trace=no_such_trace.csv"], 2, "no_such_trace.csv"),
        (["replay", "--backend=host", f"--trace={bad_trace}"], 1,
         f"{bad_trace}:3: free of 0x20, which is not live"),
    ]:
        result = subprocess.run([bench, "--no-progress", *arguments], capture_output=True,
                                text=True, timeout=30)
        if result.returncode != status or expected not in result.stderr:
            fail(f"{arguments}: exit {result.returncode}, stderr {result.stderr.strip()!r}; "
                 f"expected exit {status} and {expected!r}")


def check_threads_and_streams(bench, work_dir):
    """A trace of two threads on two streams, each freeing what the other allocated: the
    replay must pair every free with its allocation across threads (a free waits for its
    allocation) and report the trace's own peak."""
    path = os.path.join(work_dir, "bench_replay_two_threads.csv")
    live, peak, rows = 0, 0, ["Thread,Time,Action,Pointer,Size,Stream"]
    size = lambda step: (1 + step % 5) << 20
    for step in range(400):
        # Each step, one thread allocates and frees what the other allocated the step
        # before: the two run at the same pace, so a free often comes before its
        # allocation exists unless it waits.
        thread = 11 if step % 2 == 0 else 22
        stream = "0x55d0c3a1b2c0" if step % 3 == 0 else "0"
        rows.append(f"{thread},0,allocate,{0x1000 + step:#x},{size(step)},{stream}")
        live += size(step)
        peak = max(peak, live)
        if step >= 1:
            rows.append(f"{thread},0,free,{0x1000 + step - 1:#x},{size(step - 1)},{stream}")
            live -= size(step - 1)
    with open(path, "w") as file:
        file.write("\n".join(rows) + "\n")
    report_path = os.path.join(work_dir, "bench_replay_two_threads.json")
    result = subprocess.run([bench, "replay", "--backend=host", f"--trace={path}", "--reps=2",
                             "--no-progress", f"--json={report_path}"],
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        fail(f"two-thread trace: exit {result.returncode}: {result.stderr.strip()}")
        return
    with open(report_path) as file:
        suite = json.load(file)["suites"][0]
    if "2 thread(s), 2 stream(s)" not in next(iter(suite["parameters"].values()), ""):
        fail(f"two-thread trace: parameters {suite['parameters']}")
    # Threads interleave as they run, so the peak live of a replay need not be the file
    # order's: a held peak is only checked to hold the largest allocation.
    for row in suite["rows"]:
        if row.get("size_bytes") != peak or not row.get("peak_bytes", 0) >= 5 << 20:
            fail(f"two-thread trace/{row['method']}: trace peak {row.get('size_bytes')}, held "
                 f"{row.get('peak_bytes')}; expected the trace's {peak}, and at least 5 MiB held")
    if {row["method"] for row in suite["rows"]} != set(HOST_METHODS):
        fail(f"two-thread trace: rows {[row['method'] for row in suite['rows']]}")


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    bench, source_root, work_dir = (os.path.abspath(path) for path in sys.argv[1:4])
    plot_script = os.path.abspath(sys.argv[4]) if len(sys.argv) == 5 else None
    os.chdir(source_root)  # the trace path as the docs spell it
    json_path = os.path.join(work_dir, "bench_replay_trace.json")
    csv_path = os.path.join(work_dir, "bench_replay_trace.csv")
    command = [bench, "replay", "--backend=host", "--no-progress", f"--json={json_path}",
               f"--csv={csv_path}"] + [f"--trace=traces/{trace}.csv.gz" for trace in TRACES]
    run_bench(command, timeout=300)

    report = load_report(json_path)
    if report["environment"]["backend"] != "host":
        fail(f"backend {report['environment']['backend']!r}, expected 'host'")
    suites = {suite["name"]: suite for suite in report["suites"]}
    if list(suites) != ["replay"]:
        fail(f"suites {list(suites)}, expected ['replay']")
    suite = suites.get("replay", {"rows": [], "baseline": {"method": None}})
    traces = rows_by_trace(suite)
    if sorted(traces) != sorted(TRACES):
        fail(f"replay: rows for the traces {sorted(traces)}, expected {sorted(TRACES)}")
    for trace in TRACES:
        rows = traces.get(trace, {})
        check_rows(trace, rows, suite["baseline"]["method"],
                   report["settings"]["replay"]["repetitions"])
        check_memory_held(suite, trace, rows)
    for note in suite.get("notes", []):
        if note.startswith("inconsistent"):
            fail(f"replay: {note}")
    check_csv(csv_path, report, ("median", "cold_us_per_op", "peak_bytes", "held_after_trim"),
              lambda row: row.get("method"))
    if plot_script:
        check_chart(plot_script, json_path, work_dir)
    check_refusals(bench, work_dir)
    check_threads_and_streams(bench, work_dir)

    exit_on_failures()
    print(f"ok: {len(suite['rows'])} rows for {len(TRACES)} traces, every row present, finite "
          f"and consistent with its trace")


if __name__ == "__main__":
    main()
