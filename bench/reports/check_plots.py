#!/usr/bin/env python3
"""Test of bench/reports/plot_report.py (the meson test bench_plots): one chart per suite.

Runs `vmm_pmr_bench --quick --backend=host --json`, then plot_report.py on the report,
and checks that it wrote exactly one PNG per suite, each a PNG of a plausible size, named
after its suite, the threads suite's (throughput against threads) among them. Skipped
(exit 77) when no Python here has matplotlib.

usage: check_plots.py PATH/TO/vmm_pmr_bench PATH/TO/plot_report.py WORK_DIR
"""
import json
import os
import struct
import subprocess
import sys

from report_checks import exit_on_failures, fail, python_with_matplotlib

SKIP = 77


def png_size(path):
    """(width, height) from the PNG header, or None when the file is not a PNG."""
    with open(path, "rb") as file:
        header = file.read(24)
    if len(header) < 24 or header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", header[16:24])


def plot(python, script, report_path, out_dir, suites):
    os.makedirs(out_dir, exist_ok=True)
    for name in os.listdir(out_dir):
        os.remove(os.path.join(out_dir, name))
    result = subprocess.run([python, script, report_path, "--out", out_dir],
                            capture_output=True, text=True, timeout=100)
    if result.returncode != 0:
        fail(f"plot_report.py {report_path}: exit {result.returncode}: {result.stderr.strip()}")
        return
    stem = os.path.splitext(os.path.basename(report_path))[0]
    expected = sorted(f"{stem}-{suite}.png" for suite in suites)
    written = sorted(os.listdir(out_dir))
    if written != expected:
        fail(f"{report_path}: wrote {written}, expected {expected}")
    printed = sorted(os.path.basename(line) for line in result.stdout.split())
    if printed != written:
        fail(f"{report_path}: printed {printed}, wrote {written}")
    for name in written:
        path = os.path.join(out_dir, name)
        size = png_size(path)
        if size is None:
            fail(f"{name} is not a PNG")
        elif size[0] < 600 or size[1] < 200 or os.path.getsize(path) < 10000:
            fail(f"{name}: {size[0]}x{size[1]}, {os.path.getsize(path)} bytes: too small to "
                 f"hold a chart")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    bench, script, work_dir = sys.argv[1:]
    python = python_with_matplotlib()
    if python is None:
        print("SKIP: no Python here has matplotlib (scripts/setup --plot installs it)")
        sys.exit(SKIP)

    report_path = os.path.join(work_dir, "plots_quick.json")
    command = [bench, "--quick", "--backend=host", "--no-progress", f"--json={report_path}"]
    print("$", " ".join(command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        sys.exit(f"FAILED: vmm_pmr_bench exited with {result.returncode}: {result.stderr}")
    with open(report_path) as file:
        suites = [suite["name"] for suite in json.load(file)["suites"]]
    plot(python, script, report_path, os.path.join(work_dir, "plots_quick"), suites)
    if "threads" not in suites:
        fail(f"the quick run has no threads suite to draw against threads (has {suites})")

    exit_on_failures()
    print(f"ok: one chart per suite ({', '.join(suites)})")


if __name__ == "__main__":
    main()
