#!/usr/bin/env python3
"""Test of `vmm_pmr_bench compare OLD.json NEW.json` (the meson test bench_compare).

First on hand-made reports, where the verdict of every row is known: a change far beyond
both runs' 10th-90th percentile spread either way, one within it, ranges that only touch
(within), a size given twice (matched by rank), rows and a suite found in one report
only, one-sample rows (no spread); then that reports with no row in common, a file that
is not a report and a missing file are refused. Then on two real --quick runs on the
host backend: every row of every suite matched, each with both medians, a positive ratio
that is new / old, and a verdict.

usage: check_compare.py PATH/TO/vmm_pmr_bench WORK_DIR
"""
import json
import os
import re
import subprocess
import sys

from report_checks import exit_on_failures, fail

VERDICTS = {"within spread", "beyond spread (slower)", "beyond spread (faster)",
            "no spread (1 sample)"}


def row(method, size, median, p10, p90, samples=5):
    entry = {"method": method, "label": method, "median": median, "p10": p10, "p90": p90,
             "min": p10, "max": p90, "samples": samples, "operations_per_sample": 1}
    if size is not None:
        entry["size_bytes"] = size
    return entry


def report(suites):
    return {"tool": "vmm_pmr_bench",
            "environment": {"backend": "host", "device": "test", "build_type": "release",
                            "date": "today"},
            "suites": [{"name": name, "title": name, "unit": "us", "per": "pair",
                        "baseline": {"method": "raw_sequence", "label": "raw"},
                        "rows": rows} for name, rows in suites.items()]}


def write(path, content):
    with open(path, "w") as file:
        json.dump(content, file)


def run_compare(bench, old, new):
    return subprocess.run([bench, "compare", old, new], capture_output=True, text=True,
                          timeout=30)


def parse_tables(output):
    """{suite: [{"method", "size", "old", "new", "ratio", "verdict"}...]} from the text."""
    tables = {}
    current = None
    header = None
    for line in output.splitlines():
        title = re.match(r"^(\w+): .* per .*, median; verdict from", line)
        if title:
            current, header = title.group(1), None
            tables[current] = []
            continue
        if current is None or not line.startswith("   "):
            if line.startswith("summary:"):
                current = None
            continue
        cells = re.split(r"\s{2,}", line.strip())
        if header is None:
            header = cells
            continue
        if len(cells) != len(header):
            fail(f"{current}: row {line!r} does not have the {len(header)} columns {header}")
            continue
        named = dict(zip(header, cells))
        old_key = next(key for key in header if key.startswith("old "))
        new_key = next(key for key in header if key.startswith("new "))
        tables[current].append({"method": named["method"], "size": named.get("size"),
                                "old": named[old_key], "new": named[new_key],
                                "ratio": named["new/old"], "verdict": named["verdict"]})
    return tables


def summary_counts(output):
    match = re.search(r"summary: (\d+) rows matched; (\d+) beyond spread \((\d+) slower, "
                      r"(\d+) faster\), (\d+) within spread", output)
    return tuple(int(value) for value in match.groups()) if match else None


def check_hand_made(bench, work_dir):
    mib = 1 << 20
    # (method, size, old (median, p10, p90), new (median, p10, p90), expected verdict)
    cases = [
        ("steady", mib, (10, 9, 11), (10.5, 9.5, 11.5), "within spread"),
        ("regressed", mib, (10, 9, 11), (20, 19, 21), "beyond spread (slower)"),
        ("improved", 2 * mib, (10, 9, 11), (5, 4.5, 5.5), "beyond spread (faster)"),
        ("touching", 2 * mib, (10, 9, 11), (12, 11, 13), "within spread"),
        ("twice", 4 * mib, (10, 9, 11), (10, 9, 11), "within spread"),
        ("twice", 4 * mib, (10, 9, 11), (30, 29, 31), "beyond spread (slower)"),
    ]
    old_rows = [row(m, s, *o) for m, s, o, _, _ in cases] + [row("gone", mib, 1, 1, 1)]
    new_rows = [row(m, s, *n) for m, s, _, n, _ in cases] + [row("added", mib, 1, 1, 1)]
    one_sample_old = [row("single", None, 10, 10, 10, samples=1)]
    one_sample_new = [row("single", None, 30, 30, 30, samples=1)]
    old_path = os.path.join(work_dir, "compare_old.json")
    new_path = os.path.join(work_dir, "compare_new.json")
    write(old_path, report({"latency": old_rows, "churn": one_sample_old}))
    write(new_path, report({"latency": new_rows, "churn": one_sample_new,
                            "streams": [row("x", None, 1, 1, 1)]}))
    result = run_compare(bench, old_path, new_path)
    print(result.stdout)
    if result.returncode != 0:
        fail(f"hand-made: exit {result.returncode}, stderr {result.stderr.strip()!r}")
        return
    tables = parse_tables(result.stdout)
    latency = tables.get("latency", [])
    if len(latency) != len(cases):
        fail(f"hand-made: {len(latency)} latency rows printed, expected {len(cases)}")
    for (method, _, old, new, verdict), printed in zip(cases, latency):
        if printed["method"] != method:
            fail(f"hand-made: row {printed} printed where {method} was expected")
            continue
        if printed["verdict"] != verdict:
            fail(f"hand-made {method}: verdict {printed['verdict']!r}, expected {verdict!r}")
        expected_ratio = new[0] / old[0]
        try:
            ratio = float(printed["ratio"])
        except ValueError:
            ratio = None
        if ratio is None or abs(ratio - expected_ratio) > 0.005 * expected_ratio:
            fail(f"hand-made {method}: ratio {printed['ratio']}, expected {expected_ratio:.3g}")
    churn = tables.get("churn", [])
    if [r["verdict"] for r in churn] != ["no spread (1 sample)"]:
        fail(f"hand-made: one-sample rows judged {churn}, expected 'no spread'")
    expected_summary = (
        len(cases) + 1,
        sum(v.startswith("beyond") for *_, v in cases),
        sum(v.endswith("(slower)") for *_, v in cases),
        sum(v.endswith("(faster)") for *_, v in cases),
        sum(v == "within spread" for *_, v in cases))
    if summary_counts(result.stdout) != expected_summary:
        fail(f"hand-made: summary {summary_counts(result.stdout)}, expected "
             f"(matched, beyond, slower, faster, within) = {expected_summary}")
    for text in ("only in old: latency/gone at 1 MiB",
                 "only in new: latency/added at 1 MiB, streams (the whole suite)"):
        if text not in " ".join(result.stdout.split()):
            fail(f"hand-made: {text!r} missing from the output")

    disjoint_path = os.path.join(work_dir, "compare_disjoint.json")
    write(disjoint_path, report({"growth": [row("other", mib, 1, 1, 1)]}))
    result = run_compare(bench, old_path, disjoint_path)
    if result.returncode != 1 or "nothing to compare" not in result.stdout:
        fail(f"no common row: exit {result.returncode}, expected 1 and 'nothing to compare'")
    not_report = os.path.join(work_dir, "compare_not_a_report.json")
    write(not_report, {"rows": []})
    result = run_compare(bench, old_path, not_report)
    if result.returncode != 1 or "is not a vmm_pmr_bench report" not in result.stderr:
        fail(f"not a report: exit {result.returncode}, stderr {result.stderr.strip()!r}")
    result = run_compare(bench, old_path, os.path.join(work_dir, "no_such_report.json"))
    if result.returncode != 2 or "no_such_report.json" not in result.stderr:
        fail(f"missing file: exit {result.returncode}, stderr {result.stderr.strip()!r}")


def check_two_runs(bench, work_dir):
    paths = []
    for name in ("compare_run_a.json", "compare_run_b.json"):
        path = os.path.join(work_dir, name)
        command = [bench, "--quick", "--backend=host", "--no-progress", f"--json={path}"]
        print("$", " ".join(command), flush=True)
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            sys.exit(f"FAILED: {' '.join(command)} exited with {result.returncode}: "
                     f"{result.stderr}")
        paths.append(path)
    with open(paths[0]) as file:
        first = json.load(file)
    result = run_compare(bench, *paths)
    print(result.stdout)
    if result.returncode != 0:
        fail(f"two runs: exit {result.returncode}, stderr {result.stderr.strip()!r}")
        return
    tables = parse_tables(result.stdout)
    total = 0
    for suite in first["suites"]:
        printed = tables.get(suite["name"], [])
        total += len(suite["rows"])
        if len(printed) != len(suite["rows"]):
            fail(f"two runs: {suite['name']} printed {len(printed)} rows, the report has "
                 f"{len(suite['rows'])}")
        for entry in printed:
            where = f"two runs: {suite['name']}/{entry['method']}"
            if entry["verdict"] not in VERDICTS:
                fail(f"{where}: verdict {entry['verdict']!r}")
            try:
                ratio = float(entry["ratio"])
            except ValueError:
                fail(f"{where}: ratio {entry['ratio']!r} is not a number")
                continue
            if not ratio > 0:
                fail(f"{where}: ratio {ratio} is not positive")
    counts = summary_counts(result.stdout)
    if counts is None or counts[0] != total:
        fail(f"two runs: summary {counts}, expected {total} rows matched")
    if "only in" in result.stdout:
        fail("two runs with the same settings: some rows matched nothing")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    bench, work_dir = sys.argv[1], sys.argv[2]
    check_hand_made(bench, work_dir)
    check_two_runs(bench, work_dir)
    exit_on_failures()
    print("ok: hand-made verdicts as expected, two quick runs matched row by row")


if __name__ == "__main__":
    main()
