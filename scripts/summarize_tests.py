#!/usr/bin/env python3
"""Prints "N passed, N failed, N skipped" for the last test run of Meson builds.

    summarize_tests.py [build ...]      (default: build)

A Meson test that wrote a Catch2 XML report (<build>/test/<name>.xml) counts as its
test cases; any other Meson test counts as one. A build without a test log (its build
failed, or it never ran) counts as one failure. With several builds, one line per build
comes first and the sum last. Exits 1 when anything failed.
"""
import json
import pathlib
import sys
import xml.etree.ElementTree as ET


def catch2_counts(report: pathlib.Path):
    root = ET.parse(report).getroot()
    overall = root.find("OverallResultsCases")
    if overall is None:
        return None
    skipped = int(overall.get("skips", "0"))
    failed = int(overall.get("failures", "0"))
    passed = int(overall.get("successes", "0"))
    return passed, failed, skipped


def build_counts(build: pathlib.Path):
    log = build / "meson-logs" / "testlog.json"
    if not log.exists():
        return 0, 1, 0
    passed = failed = skipped = 0
    for line in log.read_text().splitlines():
        test = json.loads(line)
        result = test["result"]
        # Meson names a test "vmm_pmr_tests", "vmm_pmr:vmm_pmr_tests" or, once the build
        # holds a subproject, "vmm_pmr / vmm_pmr_tests".
        name = test["name"].replace(" / ", ":").split(":")[-1]
        report = build / "test" / f"{name}.xml"
        counts = catch2_counts(report) if report.exists() and result in ("OK", "FAIL") else None
        if counts is not None:
            p, f, s = counts
            passed, failed, skipped = passed + p, failed + f, skipped + s
            if result == "FAIL" and f == 0:
                failed += 1  # crashed after writing its report
        elif result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
    return passed, failed, skipped


def main() -> int:
    builds = [pathlib.Path(b) for b in sys.argv[1:]] or [pathlib.Path("build")]
    passed = failed = skipped = 0
    for build in builds:
        p, f, s = build_counts(build)
        if len(builds) > 1:
            missing = "" if (build / "meson-logs" / "testlog.json").exists() else " (no test log)"
            print(f"{build}: {p} passed, {f} failed, {s} skipped{missing}")
        passed, failed, skipped = passed + p, failed + f, skipped + s
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
