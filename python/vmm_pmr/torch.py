"""vmm_pmr.torch: PyTorch's CUDA tensors on vmm_pmr's stream-ordered device pools.

    import vmm_pmr.torch
    vmm_pmr.torch.enable()
    ...                              # the script, unchanged

enable() makes PyTorch allocate through torch.cuda.memory.CUDAPluggableAllocator from
libvmm_pmr_torch, whose hooks take memory from vmm_pmr_device_pool(device) on the
allocating stream and free it on that stream. PyTorch does not check a pluggable
allocator's result for NULL, so the hooks throw c10::OutOfMemoryError instead (PyTorch
raises it as torch.OutOfMemoryError); they are compiled against PyTorch's own headers,
which is why enable() refuses without them. PyTorch can only swap an allocator it has
not initialised: enable() must run before CUDA is first used.
"""

import ctypes
import os

from ._device_pool_options import set_device_pool_options
from ._device_pools import device_pool, note_outside_user
from ._errors import Error
from ._library import _installed_path, load_library
from ._tags import tag  # noqa: F401 -- vmm_pmr.torch.tag("kv_cache"), for PyTorch's tensors

HOOKS_VARIABLE = "VMM_PMR_TORCH_LIBRARY"
ALLOCATE = "vmm_pmr_torch_allocate"
DEALLOCATE = "vmm_pmr_torch_deallocate"
BUILT_FOR = "vmm_pmr_torch_built_for"

_enabled = {}  # "allocator": the CUDAPluggableAllocator in use, "hooks": its library


def _import_torch():
    try:
        import torch
    except ImportError as error:
        raise Error(
            "vmm_pmr.torch needs PyTorch, and this Python cannot import it (" + str(error)
            + "). Install PyTorch with CUDA support in this environment first."
        ) from None
    return torch


def _hooks_path():
    path = os.environ.get(HOOKS_VARIABLE, "") or _installed_path("TORCH_HOOKS")
    if not path:
        raise Error(
            "vmm_pmr was built without its PyTorch hooks (libvmm_pmr_torch.so), so "
            "vmm_pmr.torch.enable() refuses: PyTorch's pluggable allocator does not check "
            "for a failed allocation, and only these hooks, compiled against PyTorch's own "
            "headers, turn out-of-memory into torch.OutOfMemoryError instead of kernels "
            "writing through a null pointer. Rebuild vmm_pmr where this PyTorch is "
            "importable (meson setup -Dtorch=enabled), or set " + HOOKS_VARIABLE + " to a "
            "libvmm_pmr_torch.so built for it."
        )
    return path


def _load_hooks(torch, path):
    # libvmm_pmr_c first: the hooks then bind to this copy of it (the loader matches its
    # soname), so Python and PyTorch see the same device pools.
    load_library()
    try:
        hooks = ctypes.CDLL(path)
    except OSError as error:
        raise Error(
            "vmm_pmr could not load its PyTorch hooks from " + repr(path) + ": " + str(error)
            + ". They must be built against the PyTorch in use (" + torch.__version__
            + "): rebuild vmm_pmr with it, or set " + HOOKS_VARIABLE + "."
        ) from None
    try:
        built_for = getattr(hooks, BUILT_FOR)
    except AttributeError:
        raise Error(
            repr(path) + " has no function " + BUILT_FOR + ": it is not vmm_pmr's PyTorch "
            "hooks library (libvmm_pmr_torch.so). Point " + HOOKS_VARIABLE + " at that one."
        ) from None
    built_for.restype = ctypes.c_char_p
    built_for.argtypes = []
    version = built_for().decode()
    if version != torch.__version__:
        raise Error(
            "vmm_pmr's PyTorch hooks at " + repr(path) + " were built for PyTorch " + version
            + ", but this process runs PyTorch " + torch.__version__ + "; C++ exceptions "
            "cannot cross that boundary safely. Rebuild vmm_pmr against this PyTorch."
        )
    return hooks


def enable(footprint_limit=None, release_threshold=None, reservation_size=None, record=None):
    """Puts PyTorch's CUDA allocations on vmm_pmr's device pools, with these options.

    Must be called before PyTorch first uses CUDA. The options are those of
    vmm_pmr.set_device_pool_options() (VMM_PMR_CONF); None keeps the environment's.
    Calling it again is allowed as long as the options stay the same.
    """
    options = dict(
        footprint_limit=footprint_limit,
        release_threshold=release_threshold,
        reservation_size=reservation_size,
        record=record,
    )
    torch = _import_torch()
    if _enabled:
        set_device_pool_options(**options)  # refuses options that could no longer apply
        return
    path = _hooks_path()
    if torch.cuda.is_initialized():
        raise Error(
            "vmm_pmr.torch.enable() came after PyTorch initialised CUDA, and PyTorch cannot "
            "swap an allocator that is in use. Call it before anything touches CUDA: right "
            "after `import vmm_pmr.torch`, at the top of the script."
        )
    hooks = _load_hooks(torch, path)
    set_device_pool_options(**options)
    allocator = torch.cuda.memory.CUDAPluggableAllocator(path, ALLOCATE, DEALLOCATE)
    try:
        torch.cuda.memory.change_current_allocator(allocator)
    except RuntimeError as error:
        raise Error(
            "PyTorch refused vmm_pmr's allocator (" + str(error) + "). Call "
            "vmm_pmr.torch.enable() before anything allocates on CUDA."
        ) from None
    note_outside_user("vmm_pmr.torch.enable()")
    _enabled.update(allocator=allocator, hooks=hooks)


def is_enabled():
    """Whether enable() has put PyTorch on vmm_pmr in this process."""
    return bool(_enabled)


def _device_index(torch, device):
    if isinstance(device, int):
        return device
    index = None if device is None else torch.device(device).index
    return torch.cuda.current_device() if index is None else index


def stats(device=None):
    """The statistics of the pool PyTorch uses on `device` (default: the current one).
    torch.cuda.memory_stats() does not work with a pluggable allocator; this does."""
    torch = _import_torch()
    return device_pool(_device_index(torch, device)).stats()


def empty_cache(device=None):
    """Gives the cached memory of `device`'s pool back to the driver (whole free chunks);
    the bytes released. torch.cuda.empty_cache() does nothing with a pluggable allocator."""
    torch = _import_torch()
    return device_pool(_device_index(torch, device)).trim(0)
