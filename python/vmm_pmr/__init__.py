"""vmm_pmr from Python: its stream-ordered device pools, and PyTorch and CuPy on them.

    import vmm_pmr.torch            import vmm_pmr.cupy
    vmm_pmr.torch.enable()          vmm_pmr.cupy.enable()

This package is plain Python over libvmm_pmr_c (vmm_pmr_c.h) through ctypes; the library
is loaded at the first call that needs it (VMM_PMR_LIBRARY names it, else the installed
one). Every failure raises vmm_pmr.Error with the library's message. docs/python.md
describes the API, the rules of enable() and what out-of-memory looks like.
"""

from ._device_pool_options import set_device_pool_options
from ._device_pools import device_pool, empty_cache, settle, stats, trim
from ._errors import Error
from ._library import library_path
from ._pool import Pool
from ._tags import current_tag, sleep, tag, tagged_pool, wake

__all__ = [
    "Error",
    "Pool",
    "current_tag",
    "device_pool",
    "empty_cache",
    "library_path",
    "set_device_pool_options",
    "settle",
    "sleep",
    "stats",
    "tag",
    "tagged_pool",
    "trim",
    "wake",
]
