"""The Python package over libvmm_pmr_c, on the host backend (no GPU, no framework).

Run by `meson test python_package` with PYTHONPATH at python/, VMM_PMR_LIBRARY at the
built libvmm_pmr_c and VMM_PMR_CONF=backend=host. Whatever changes the process (the
library's path, the device pools' options) runs in a child process of its own.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap
import unittest

import vmm_pmr
import vmm_pmr.cupy
import vmm_pmr.torch

MiB = 1 << 20
HOST = "backend=host"


def run_child(code, **environment):
    """Runs `code` in a fresh Python with these environment changes; (status, stdout, stderr)."""
    env = dict(os.environ)
    for key, value in environment.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return child.returncode, child.stdout, child.stderr


class OwnedPoolTest(unittest.TestCase):
    def test_allocate_and_deallocate_show_in_the_statistics(self):
        with vmm_pmr.Pool(0, HOST) as pool:
            pointer = pool.allocate(3 * MiB)
            self.assertNotEqual(pointer, 0)
            stats = pool.stats()
            self.assertEqual(stats["live_count"], 1)
            self.assertEqual(stats["live_bytes"], 3 * MiB)
            pool.deallocate(pointer, 3 * MiB)
            stats = pool.stats()
            self.assertEqual(stats["live_count"], 0)
            self.assertEqual(stats["allocations"], 1)
            self.assertEqual(stats["deallocations"], 1)

    def test_free_by_address_alone(self):
        with vmm_pmr.Pool(0, HOST) as pool:
            pointer = pool.allocate(MiB, stream=7)
            pool.free(pointer)
            self.assertEqual(pool.stats()["live_count"], 0)

    def test_a_zero_size_request_gets_an_address(self):
        with vmm_pmr.Pool(0, HOST) as pool:
            pointer = pool.allocate(0)
            self.assertNotEqual(pointer, 0)
            pool.deallocate(pointer, 0)

    def test_a_double_free_raises_the_library_message_and_the_pool_goes_on(self):
        with vmm_pmr.Pool(0, HOST) as pool:
            pointer = pool.allocate(MiB)
            pool.deallocate(pointer, MiB)
            with self.assertRaises(vmm_pmr.Error) as caught:
                pool.deallocate(pointer, MiB)
            self.assertIn(hex(pointer)[2:], str(caught.exception).lower())
            again = pool.allocate(MiB)
            pool.deallocate(again, MiB)
            self.assertEqual(pool.stats()["live_count"], 0)

    def test_a_wrong_size_is_refused_and_the_allocation_stays_live(self):
        with vmm_pmr.Pool(0, HOST) as pool:
            pointer = pool.allocate(MiB)
            with self.assertRaises(vmm_pmr.Error) as caught:
                pool.deallocate(pointer, 2 * MiB)
            self.assertNotEqual(str(caught.exception), "")
            self.assertEqual(pool.stats()["live_count"], 1)
            pool.deallocate(pointer, MiB)

    def test_trim_gives_the_cached_chunks_back(self):
        with vmm_pmr.Pool(0, HOST) as pool:
            pointer = pool.allocate(8 * MiB)
            pool.deallocate(pointer, 8 * MiB)
            self.assertGreater(pool.stats()["cached_bytes"], 0)
            released = pool.trim(0)
            self.assertGreater(released, 0)
            stats = pool.stats()
            self.assertEqual(stats["cached_bytes"], 0)
            self.assertEqual(stats["bytes_released"], released)

    def test_settle_makes_a_streams_frees_reusable(self):
        with vmm_pmr.Pool(0, HOST) as pool:
            pointer = pool.allocate(MiB, stream=5)
            pool.deallocate(pointer, MiB, stream=5)
            pool.settle(5)
            again = pool.allocate(MiB, stream=9)
            self.assertEqual(again, pointer)
            pool.deallocate(again, MiB, stream=9)

    def test_sleep_gives_the_memory_back_and_wake_restores_the_contents(self):
        import ctypes

        with vmm_pmr.Pool(0, HOST) as pool:
            pointer = pool.allocate(3 * MiB)
            written = bytes(range(256)) * (3 * MiB // 256)
            ctypes.memmove(pointer, written, len(written))  # host memory: usable
            calls = []
            pool.set_sleep_hooks(lambda: calls.append("before"), lambda: calls.append("after"))
            self.assertGreaterEqual(pool.sleep(keep=True), 3 * MiB)
            self.assertEqual(calls, ["before"])
            self.assertTrue(pool.asleep())
            self.assertGreaterEqual(pool.stats()["sleeping_bytes"], 3 * MiB)
            with self.assertRaises(vmm_pmr.Error) as caught:
                pool.allocate(MiB)
            self.assertIn("asleep", str(caught.exception))
            pool.wake()
            self.assertEqual(calls, ["before", "after"])
            self.assertFalse(pool.asleep())
            self.assertEqual(ctypes.string_at(pointer, len(written)), written)
            pool.free(pointer)

    def test_close_reports_the_allocations_left_live(self):
        pool = vmm_pmr.Pool(0, HOST)
        pool.allocate(MiB)
        self.assertEqual(pool.close(), 1)
        with self.assertRaises(vmm_pmr.Error) as caught:
            pool.allocate(MiB)
        self.assertIn("closed", str(caught.exception))

    def test_bad_options_raise_the_library_message_naming_the_key(self):
        with self.assertRaises(vmm_pmr.Error) as caught:
            vmm_pmr.Pool(0, HOST + ",footprint_limit=0.5")
        self.assertIn("footprint_limit", str(caught.exception))
        with self.assertRaises(vmm_pmr.Error) as caught:
            vmm_pmr.Pool(0, HOST + ",no_such_key=1")
        self.assertIn("no_such_key", str(caught.exception))

    def test_a_stream_must_be_an_address_or_a_stream_object(self):
        with vmm_pmr.Pool(0, HOST) as pool:
            with self.assertRaises(TypeError):
                pool.allocate(MiB, stream="default")


class TagTest(unittest.TestCase):
    def test_a_tags_pool_sleeps_and_wakes_alone_keeping_its_contents(self):
        import ctypes

        library = vmm_pmr._library.load_library()
        malloc, free = library.vmm_pmr_torch_malloc, library.vmm_pmr_torch_free
        malloc.restype, malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p]
        free.restype = None
        free.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p]
        with vmm_pmr.tag("weights"):
            self.assertEqual(vmm_pmr.current_tag(), "weights")
            # What the framework hooks do: the thread's tag picks the pool.
            pointer = malloc(MiB, 0, None)
        self.assertEqual(vmm_pmr.current_tag(), "")
        self.assertTrue(pointer)
        pool = vmm_pmr.tagged_pool("weights")
        self.assertIsNot(pool, vmm_pmr.device_pool(0))
        self.assertEqual(pool.stats()["live_bytes"], MiB)
        ctypes.memset(pointer, 0x3C, MiB)
        self.assertGreaterEqual(vmm_pmr.sleep("weights", keep=True), MiB)
        self.assertTrue(pool.asleep())
        self.assertFalse(vmm_pmr.device_pool(0).asleep())
        vmm_pmr.wake(["weights"])
        self.assertEqual(ctypes.string_at(pointer, MiB), b"\x3c" * MiB)
        free(pointer, MiB, 0, None)
        self.assertEqual(pool.stats()["live_count"], 0)

    def test_vmm_pmr_torch_tag_is_the_same_context(self):
        self.assertIs(vmm_pmr.torch.tag, vmm_pmr.tag)

    def test_a_tag_too_long_raises_the_library_message(self):
        with self.assertRaises(vmm_pmr.Error) as caught:
            with vmm_pmr.tag("x" * 100):
                pass
        self.assertIn("at most 63", str(caught.exception))


class DevicePoolTest(unittest.TestCase):
    def test_stats_has_every_field_of_the_c_struct(self):
        stats = vmm_pmr.stats(0)
        self.assertEqual(
            set(stats),
            {
                "live_count", "live_bytes", "cached_bytes", "mapped_bytes", "reserved_bytes",
                "peak_live_bytes", "peak_mapped_bytes", "chunk_count", "alias_ranges",
                "alias_bytes", "allocations", "deallocations", "chunks_mapped",
                "chunks_released", "bytes_released", "trims", "deallocation_errors",
                "sleeping_bytes",
            },
        )
        self.assertTrue(all(isinstance(value, int) for value in stats.values()))

    def test_the_device_pool_is_one_pool_and_trim_and_empty_cache_empty_it(self):
        pool = vmm_pmr.device_pool(0)
        self.assertIs(pool, vmm_pmr.device_pool(0))
        pointer = pool.allocate(4 * MiB)
        self.assertEqual(vmm_pmr.stats(0)["live_bytes"], 4 * MiB)
        pool.deallocate(pointer, 4 * MiB)
        self.assertGreater(vmm_pmr.trim(0, keep=0), 0)
        self.assertEqual(vmm_pmr.stats(0)["cached_bytes"], 0)
        pointer = pool.allocate(4 * MiB)
        pool.deallocate(pointer, 4 * MiB)
        self.assertGreater(vmm_pmr.empty_cache(0), 0)

    def test_a_device_pool_cannot_be_closed(self):
        with self.assertRaises(vmm_pmr.Error) as caught:
            vmm_pmr.device_pool(0).close()
        self.assertIn("trim", str(caught.exception))


class DevicePoolOptionsTest(unittest.TestCase):
    def test_options_reach_the_device_pools_and_merge_with_the_environment(self):
        status, out, err = run_child(
            """
            import os, vmm_pmr
            print(vmm_pmr.set_device_pool_options(footprint_limit=1.5, release_threshold="1GiB"))
            print(os.environ["VMM_PMR_CONF"])
            vmm_pmr.stats(0)
            """,
            VMM_PMR_CONF=HOST,
        )
        self.assertEqual(status, 0, err)
        expected = HOST + ",footprint_limit=1.5,release_threshold=1GiB"
        self.assertEqual(out.split(), [expected, expected])

    def test_a_bad_value_fails_at_once_with_the_library_message_and_changes_nothing(self):
        status, out, err = run_child(
            """
            import os, vmm_pmr
            try:
                vmm_pmr.set_device_pool_options(release_threshold="lots")
            except vmm_pmr.Error as error:
                print(error)
            print(os.environ["VMM_PMR_CONF"])
            """,
            VMM_PMR_CONF=HOST,
        )
        self.assertEqual(status, 0, err)
        message, conf = out.strip().split("\n")
        self.assertIn("release_threshold", message)
        self.assertIn("lots", message)
        self.assertEqual(conf, HOST)

    def test_options_after_a_device_pool_exists_are_refused(self):
        status, out, err = run_child(
            """
            import vmm_pmr
            vmm_pmr.stats(0)
            vmm_pmr.set_device_pool_options(backend="host")  # what is in force already: fine
            try:
                vmm_pmr.set_device_pool_options(footprint_limit=2)
            except vmm_pmr.Error as error:
                print(error)
            """,
            VMM_PMR_CONF=HOST,
        )
        self.assertEqual(status, 0, err)
        self.assertIn("exists already", out)
        self.assertIn("footprint_limit=2", out)

    def test_a_value_with_a_separator_is_refused(self):
        with self.assertRaises(vmm_pmr.Error) as caught:
            vmm_pmr.set_device_pool_options(record="a,b.log")
        self.assertIn("record", str(caught.exception))


class LibraryLoadingTest(unittest.TestCase):
    def test_a_missing_library_is_named_with_what_to_do(self):
        status, out, err = run_child(
            """
            import vmm_pmr
            try:
                vmm_pmr.stats(0)
            except vmm_pmr.Error as error:
                print(error)
            """,
            VMM_PMR_LIBRARY="/nonexistent/libvmm_pmr_c.so",
        )
        self.assertEqual(status, 0, err)
        self.assertIn("/nonexistent/libvmm_pmr_c.so", out)
        self.assertIn("VMM_PMR_LIBRARY", out)

    def test_without_the_variable_or_an_installation_it_says_how_to_point_at_the_library(self):
        status, out, err = run_child(
            """
            import vmm_pmr
            try:
                vmm_pmr.library_path()
            except vmm_pmr.Error as error:
                print(error)
            """,
            VMM_PMR_LIBRARY=None,
        )
        self.assertEqual(status, 0, err)
        self.assertIn("VMM_PMR_LIBRARY", out)

    def test_importing_the_package_loads_nothing(self):
        status, out, err = run_child(
            "import vmm_pmr, vmm_pmr.torch, vmm_pmr.cupy", VMM_PMR_LIBRARY="/nonexistent"
        )
        self.assertEqual(status, 0, err)


class FrameworksMissingTest(unittest.TestCase):
    # Whether a framework is installed is asked without importing it: this process has
    # loaded libvmm_pmr_c already, and the frameworks suite covers what importing does.
    def test_torch_enable_without_pytorch_says_so(self):
        if importlib.util.find_spec("torch") is not None:
            self.skipTest("PyTorch is installed here; test/frameworks covers enable()")
        with self.assertRaises(vmm_pmr.Error) as caught:
            vmm_pmr.torch.enable()
        self.assertIn("PyTorch", str(caught.exception))

    def test_cupy_enable_without_cupy_says_so(self):
        if importlib.util.find_spec("cupy") is not None:
            self.skipTest("CuPy is installed here; test/frameworks covers enable()")
        with self.assertRaises(vmm_pmr.Error) as caught:
            vmm_pmr.cupy.enable()
        self.assertIn("CuPy", str(caught.exception))
        self.assertFalse(vmm_pmr.cupy.is_enabled())


if __name__ == "__main__":
    unittest.main()
