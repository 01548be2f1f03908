"""What the bench's report checks share: collecting failures, running the bench, reading
its JSON strictly and its CSV, and finding a Python that can draw the charts."""
import csv
import json
import math
import os
import subprocess
import sys

failures = []


def fail(message):
    failures.append(message)


def exit_on_failures():
    """Prints every failure collected and exits 1 if there was one."""
    if failures:
        print(f"FAILED: {len(failures)} problem(s):", file=sys.stderr)
        for message in failures:
            print("  -", message, file=sys.stderr)
        sys.exit(1)


def run_bench(command, timeout):
    """Runs the bench, echoing its output; exits on a failed run."""
    print("$", " ".join(command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    print(result.stdout)
    print(result.stderr, file=sys.stderr)
    if result.returncode != 0:
        sys.exit(f"FAILED: vmm_pmr_bench exited with status {result.returncode}")


def refuse_constant(name):
    raise ValueError(f"JSON holds the non-number {name}")


def check_finite_everywhere(value, where):
    if isinstance(value, float) and not math.isfinite(value):
        fail(f"{where}: {value} is not finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_finite_everywhere(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_finite_everywhere(item, f"{where}[{index}]")


def load_report(path):
    """The JSON report, refusing NaN and infinity however they are spelled."""
    with open(path) as file:
        report = json.load(file, parse_constant=refuse_constant)
    check_finite_everywhere(report, "report")
    return report


def check_csv(path, report, keys, row_name):
    """The CSV holds one row per JSON row, and each of `keys` is a positive finite number
    in every row; row_name(row) names a row in the messages."""
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    expected = sum(len(suite["rows"]) for suite in report["suites"])
    if len(rows) != expected:
        fail(f"CSV has {len(rows)} rows, the JSON {expected}")
    for row in rows:
        for key in keys:
            try:
                value = float(row[key])
            except (KeyError, ValueError):
                fail(f"CSV {row_name(row)}: {key} = {row.get(key)!r}")
                continue
            if not math.isfinite(value) or value <= 0:
                fail(f"CSV {row_name(row)}: {key} = {value}")


def python_with_matplotlib():
    """This interpreter, or the system's (where Debian's python3-matplotlib lives)."""
    for candidate in (sys.executable, "/usr/bin/python3"):
        if candidate and os.path.exists(candidate) and subprocess.run(
                [candidate, "-c", "import matplotlib"], capture_output=True).returncode == 0:
            return candidate
    return None
