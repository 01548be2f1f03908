"""Finds and loads libvmm_pmr_c and declares its functions (vmm_pmr_c.h) for ctypes.

The library is the file named by the environment variable VMM_PMR_LIBRARY, else the one
`meson install` put in the libdir (its path is in _install_paths.py, written by Meson).
It is loaded at the first call that needs it, never at import, so `import vmm_pmr` works
anywhere and the first use says what is missing.
"""

import ctypes
import os
import threading

from ._errors import Error

LIBRARY_VARIABLE = "VMM_PMR_LIBRARY"

# vmm_pmr_stats, field by field, in the header's order.
STAT_NAMES = (
    "live_count",
    "live_bytes",
    "cached_bytes",
    "mapped_bytes",
    "reserved_bytes",
    "peak_live_bytes",
    "peak_mapped_bytes",
    "chunk_count",
    "alias_ranges",
    "alias_bytes",
    "allocations",
    "deallocations",
    "chunks_mapped",
    "chunks_released",
    "bytes_released",
    "trims",
    "deallocation_errors",
    "sleeping_bytes",
)


class Stats(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in STAT_NAMES]


_pool = ctypes.c_void_p
_stream = ctypes.c_void_p
_PROTOTYPES = {
    "vmm_pmr_last_error": (ctypes.c_char_p, []),
    "vmm_pmr_pool_create": (_pool, [ctypes.c_int, ctypes.c_char_p]),
    "vmm_pmr_pool_destroy": (ctypes.c_int64, [_pool]),
    "vmm_pmr_pool_allocate": (ctypes.c_void_p, [_pool, ctypes.c_size_t, _stream]),
    "vmm_pmr_pool_deallocate": (ctypes.c_int, [_pool, ctypes.c_void_p, ctypes.c_size_t, _stream]),
    "vmm_pmr_pool_free": (ctypes.c_int, [_pool, ctypes.c_void_p]),
    "vmm_pmr_pool_trim": (ctypes.c_int64, [_pool, ctypes.c_size_t]),
    "vmm_pmr_pool_settle": (ctypes.c_int, [_pool, _stream]),
    "vmm_pmr_pool_stats": (ctypes.c_int, [_pool, ctypes.POINTER(Stats)]),
    "vmm_pmr_pool_sleep": (ctypes.c_int64, [_pool, ctypes.c_int]),
    "vmm_pmr_pool_wake": (ctypes.c_int, [_pool]),
    "vmm_pmr_pool_asleep": (ctypes.c_int, [_pool]),
    "vmm_pmr_pool_set_sleep_hooks": (
        ctypes.c_int,
        [_pool, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p],
    ),
    "vmm_pmr_device_pool": (_pool, [ctypes.c_int]),
    "vmm_pmr_set_tag": (ctypes.c_int, [ctypes.c_char_p]),
    "vmm_pmr_current_tag": (ctypes.c_char_p, []),
    "vmm_pmr_tagged_pool": (_pool, [ctypes.c_int, ctypes.c_char_p]),
}

_lock = threading.Lock()
_library = None


def _installed_path(name):
    try:
        from . import _install_paths
    except ImportError:  # a copy of the package that Meson did not install
        return ""
    return getattr(_install_paths, name, "")


def library_path():
    """The path of libvmm_pmr_c this process loads, and where that choice came from."""
    path = os.environ.get(LIBRARY_VARIABLE, "")
    if path:
        return path, "the environment variable " + LIBRARY_VARIABLE
    path = _installed_path("LIBRARY")
    if path:
        return path, "the path recorded when vmm_pmr was installed"
    raise Error(
        "vmm_pmr cannot find libvmm_pmr_c: " + LIBRARY_VARIABLE + " is not set and this copy "
        "of the package was not installed by Meson (it has no vmm_pmr/_install_paths.py). "
        "Set " + LIBRARY_VARIABLE + " to the path of libvmm_pmr_c.so, or install vmm_pmr "
        "with `meson install`."
    )


def load_library():
    """libvmm_pmr_c as a ctypes.CDLL with its prototypes declared; loaded once."""
    global _library
    with _lock:
        if _library is None:
            path, source = library_path()
            try:
                library = ctypes.CDLL(path)
            except OSError as error:
                raise Error(
                    "vmm_pmr could not load libvmm_pmr_c from " + repr(path) + " (taken from "
                    + source + "): " + str(error) + ". Build and install vmm_pmr, or set "
                    + LIBRARY_VARIABLE + " to the path of its libvmm_pmr_c.so."
                ) from None
            for name, (result, arguments) in _PROTOTYPES.items():
                try:
                    function = getattr(library, name)
                except AttributeError:
                    raise Error(
                        repr(path) + " (taken from " + source + ") has no function " + name
                        + ": it is not a libvmm_pmr_c of this version. Point "
                        + LIBRARY_VARIABLE + " at the libvmm_pmr_c.so built with this package."
                    ) from None
                function.restype = result
                function.argtypes = arguments
            _library = library
        return _library


def last_error(library):
    """The calling thread's last error message from the library."""
    message = library.vmm_pmr_last_error()
    return message.decode("utf-8", "replace") if message else ""
