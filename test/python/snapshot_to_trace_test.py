"""Tests of snapshot_to_trace on hand-made snapshots shaped like PyTorch's.

Run: PYTHONPATH=python python3 test/python/snapshot_to_trace_test.py (or the Meson test
snapshot_to_trace).
"""

import gzip
import os
import pickle
import sys
import tempfile
import unittest

from vmm_pmr import snapshot_to_trace as converter

SIDE_STREAM = 0x55D0C0DE1000


def entry(action, addr, size, stream=0, time_us=None, **extra):
    """One trace entry as PyTorch's _snapshot() writes it (frames left empty)."""
    result = {"action": action, "addr": addr, "size": size, "stream": stream, "frames": []}
    if time_us is not None:
        result["time_us"] = time_us
    result.update(extra)
    return result


def snapshot(*device_traces):
    return {"segments": [], "device_traces": list(device_traces), "allocator_settings": {}}


def data_rows(conversion):
    return [row.split(",") for row in conversion.rows[1:]]


class ConvertTest(unittest.TestCase):
    def test_alloc_and_free_requested_become_allocate_and_free(self):
        trace = [
            entry("segment_alloc", 0x7F0000000000, 2097152),
            entry("alloc", 0x7F0000000000, 1000),
            entry("alloc", 0x7F0000000400, 4096, stream=SIDE_STREAM),
            entry("free_requested", 0x7F0000000000, 1000),
            entry("alloc", 0x7F0000001400, 512),
            entry("free_completed", 0x7F0000000000, 1000),
            entry("segment_free", 0x7F0000000000, 2097152),
        ]
        conversion = converter.convert(snapshot(trace))
        self.assertEqual(conversion.rows[0], "Thread,Time,Action,Pointer,Size,Stream")
        self.assertEqual(
            data_rows(conversion),
            [
                ["1", "00:00:00.000000", "allocate", "0x7f0000000000", "1000", "0"],
                ["1", "00:00:00.000001", "allocate", "0x7f0000000400", "4096", "0x55d0c0de1000"],
                ["1", "00:00:00.000002", "free", "0x7f0000000000", "1000", "0"],
                ["1", "00:00:00.000003", "allocate", "0x7f0000001400", "512", "0"],
            ],
        )
        self.assertEqual(conversion.live_at_end, 2)
        self.assertEqual(conversion.entries, 7)

    def test_time_is_time_us_from_the_first_entry_kept(self):
        trace = [
            entry("segment_alloc", 0x1000, 2097152, time_us=1_700_000_000_000_000),
            entry("alloc", 0x1000, 512, time_us=1_700_000_000_000_100),
            entry("free_requested", 0x1000, 512, time_us=1_700_003_603_723_600),
        ]
        times = [row[1] for row in data_rows(converter.convert(snapshot(trace)))]
        self.assertEqual(times, ["00:00:00.000000", "01:00:03.723500"])

    def test_time_is_the_index_when_an_entry_has_no_time_us(self):
        trace = [
            entry("alloc", 0x1000, 512, time_us=5),
            entry("alloc", 0x2000, 512),
            entry("free_requested", 0x1000, 512, time_us=9),
        ]
        times = [row[1] for row in data_rows(converter.convert(snapshot(trace)))]
        self.assertEqual(times, ["00:00:00.000000", "00:00:00.000001", "00:00:00.000002"])

    def test_frees_of_blocks_allocated_before_the_recording_are_dropped(self):
        trace = [
            entry("free_requested", 0x9000, 512),
            entry("alloc", 0x1000, 512),
            entry("free_requested", 0x1000, 512),
            entry("free_requested", 0x1000, 512),
        ]
        conversion = converter.convert(snapshot(trace))
        self.assertEqual([row[2] for row in data_rows(conversion)], ["allocate", "free"])
        self.assertEqual(conversion.dropped_frees, 2)
        self.assertEqual(conversion.live_at_end, 0)

    def test_an_address_allocated_twice_is_refused(self):
        trace = [entry("alloc", 0x1000, 512), entry("alloc", 0x1000, 512)]
        with self.assertRaisesRegex(converter.SnapshotError, "0x1000 allocated again"):
            converter.convert(snapshot(trace))

    def test_an_oom_entry_without_addr_is_skipped(self):
        trace = [
            entry("alloc", 0x1000, 512),
            {"action": "oom", "device_free": 0, "size": 1 << 40, "stream": 0},
        ]
        self.assertEqual(len(data_rows(converter.convert(snapshot(trace)))), 1)


class DeviceChoiceTest(unittest.TestCase):
    def test_the_only_device_with_entries_is_chosen(self):
        conversion = converter.convert(snapshot([], [entry("alloc", 0x1000, 512)]))
        self.assertEqual(conversion.device, 1)

    def test_several_devices_with_entries_need_a_choice(self):
        both = snapshot([entry("alloc", 0x1000, 512)], [entry("alloc", 0x2000, 1024)])
        with self.assertRaisesRegex(converter.SnapshotError, "--device"):
            converter.convert(both)
        self.assertEqual(data_rows(converter.convert(both, device=1))[0][4], "1024")

    def test_a_device_out_of_range_is_refused(self):
        with self.assertRaisesRegex(converter.SnapshotError, "device 3 was asked for"):
            converter.convert(snapshot([entry("alloc", 0x1000, 512)]), device=3)

    def test_a_snapshot_without_entries_is_refused(self):
        with self.assertRaisesRegex(converter.SnapshotError, "all empty"):
            converter.convert(snapshot([], []))


class FilesTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.addCleanup(self.folder.cleanup)

    def path(self, name):
        return os.path.join(self.folder.name, name)

    def write_pickle(self, value, name="snapshot.pickle"):
        with open(self.path(name), "wb") as out:
            pickle.dump(value, out)
        return self.path(name)

    def test_a_gz_name_gets_a_gzip_trace_equal_to_the_plain_one(self):
        source = self.write_pickle(
            snapshot([entry("alloc", 0x1000, 512), entry("free_requested", 0x1000, 512)])
        )
        self.assertEqual(converter.main([source, self.path("trace.csv.gz")]), 0)
        self.assertEqual(converter.main([source, self.path("trace.csv")]), 0)
        with gzip.open(self.path("trace.csv.gz"), "rt", encoding="ascii") as packed:
            with open(self.path("trace.csv"), encoding="ascii") as plain:
                text = plain.read()
                self.assertEqual(packed.read(), text)
        self.assertEqual(len(text.splitlines()), 3)

    def test_a_pickle_that_is_no_snapshot_fails_and_writes_nothing(self):
        source = self.write_pickle({"segments": []})
        with open(os.devnull, "w") as quiet:
            saved, sys.stderr = sys.stderr, quiet
            try:
                status = converter.main([source, self.path("trace.csv")])
            finally:
                sys.stderr = saved
        self.assertEqual(status, 1)
        self.assertFalse(os.path.exists(self.path("trace.csv")))

    def test_a_file_that_is_no_pickle_names_the_function_to_use(self):
        with open(self.path("text.pickle"), "w") as out:
            out.write("Thread,Time,Action,Pointer,Size,Stream\n")
        with self.assertRaisesRegex(converter.SnapshotError, "_dump_snapshot"):
            converter.load_snapshot(self.path("text.pickle"))


if __name__ == "__main__":
    unittest.main()
