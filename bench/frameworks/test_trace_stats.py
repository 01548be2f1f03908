"""Tests of trace_stats on hand-made RMM-format traces.

Run: python3 bench/frameworks/test_trace_stats.py (or the Meson test framework_trace_stats).
"""

import gzip
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import trace_stats  # noqa: E402

HEADER = "Thread,Time,Action,Pointer,Size,Stream\n"


class TraceStatsTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.addCleanup(self.folder.cleanup)

    def write(self, name, rows, header=HEADER):
        path = os.path.join(self.folder.name, name)
        text = header + "".join(row + "\n" for row in rows)
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "wt") as out:
            out.write(text)
        return path

    def test_peak_live_is_the_largest_sum_live_at_once(self):
        path = self.write(
            "trace.csv",
            [
                "1,00:00:00.000000,allocate,0x1000,100,0",
                "1,00:00:00.000001,allocate,0x2000,300,0x55d0c0de1000",
                "1,00:00:00.000002,free,0x1000,100,0",
                "1,00:00:00.000003,allocate,0x1000,150,0",
                "1,00:00:00.000004,free,0x2000,300,0x55d0c0de1000",
                "1,00:00:00.000005,allocate,0x3000,50,0",
            ],
        )
        stats = trace_stats.trace_stats(path)
        self.assertEqual(stats.peak_live_bytes, 450)
        self.assertEqual(stats.live_bytes_at_end, 200)
        self.assertEqual(stats.live_count_at_end, 2)
        self.assertEqual((stats.events, stats.allocations, stats.frees), (6, 4, 2))
        self.assertEqual(stats.streams, 2)
        self.assertEqual(stats.largest_allocation_bytes, 300)

    def test_a_gzip_trace_reads_like_the_plain_one(self):
        rows = ["1,00:00:00.000000,allocate,0x1000,4096,0", "1,00:00:00.000001,free,0x1000,4096,0"]
        plain = trace_stats.trace_stats(self.write("trace.csv", rows))
        packed = trace_stats.trace_stats(self.write("trace.csv.gz", rows))
        self.assertEqual(plain, packed)
        self.assertEqual(packed.peak_live_bytes, 4096)

    def test_a_free_without_its_allocation_is_counted_and_ignored(self):
        path = self.write(
            "trace.csv",
            ["1,00:00:00.000000,free,0x1000,64,0", "1,00:00:00.000001,allocate,0x2000,8,0"],
        )
        stats = trace_stats.trace_stats(path)
        self.assertEqual(stats.unmatched_frees, 1)
        self.assertEqual(stats.live_bytes_at_end, 8)

    def test_a_failed_allocation_is_counted_and_holds_nothing(self):
        path = self.write(
            "trace.csv",
            [
                "1,00:00:00.000000,allocate,0x1000,64,0",
                "1,00:00:00.000001,allocate failure,0x0,1099511627776,0",
                "1,00:00:00.000002,free,0x1000,64,0",
            ],
        )
        stats = trace_stats.trace_stats(path)
        self.assertEqual(stats.failed_allocations, 1)
        self.assertEqual((stats.events, stats.allocations, stats.peak_live_bytes), (2, 1, 64))
        self.assertEqual(stats.unmatched_frees, 0)

    def test_a_file_without_the_header_is_refused(self):
        path = self.write("trace.csv", ["1,00:00:00.000000,allocate,0x1000,64,0"], header="")
        with self.assertRaisesRegex(trace_stats.TraceError, "not the RMM log header"):
            trace_stats.trace_stats(path)

    def test_an_unknown_action_names_its_line(self):
        path = self.write("trace.csv", ["1,00:00:00.000000,reallocate,0x1000,64,0"])
        with self.assertRaisesRegex(trace_stats.TraceError, r"trace.csv:2: action 'reallocate'"):
            trace_stats.trace_stats(path)


if __name__ == "__main__":
    unittest.main()
