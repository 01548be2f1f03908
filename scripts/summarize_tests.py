#!/usr/bin/env python3
"""Prints "N passed, N failed, N skipped" for a Meson build's last test run.

A Meson test that wrote a Catch2 XML report (<build>/test/<name>.xml) counts as its
test cases; any other Meson test counts as one. Exits 1 when anything failed.
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


def main() -> int:
    build = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "build")
    log = build / "meson-logs" / "testlog.json"
    passed = failed = skipped = 0
    for line in log.read_text().splitlines():
        test = json.loads(line)
        result = test["result"]
        name = test["name"].split(":")[-1]  # newer Meson says "vmm_pmr:vmm_pmr_tests"
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
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
