"""vmm_pmr.cupy: CuPy's device memory from vmm_pmr's stream-ordered device pools.

    import vmm_pmr.cupy
    vmm_pmr.cupy.enable()            # vmm_pmr.cupy.disable() puts CuPy's allocator back

enable() installs a Python allocator (cupy.cuda.set_allocator) that takes memory from
vmm_pmr_device_pool(device) on CuPy's current stream and device. Each allocation is an
UnownedMemory whose owner frees it on the stream it was allocated on when CuPy drops it.
A failed allocation raises cupy.cuda.memory.OutOfMemoryError, with vmm_pmr's message,
after one garbage collection and retry, as CuPy's own pool does.
"""

import gc

from ._device_pool_options import set_device_pool_options
from ._device_pools import device_pool
from ._errors import Error

_enabled = {}  # "previous": the allocator enable() replaced


def _import_cupy():
    try:
        import cupy
    except ImportError as error:
        raise Error(
            "vmm_pmr.cupy needs CuPy, and this Python cannot import it (" + str(error)
            + "). Install CuPy for your CUDA version in this environment first."
        ) from None
    return cupy


class _Allocation:
    """One block lent to CuPy: freed into its pool, on its stream, when CuPy drops it."""

    __slots__ = ("_pool", "_pointer", "_size", "_stream")

    def __init__(self, pool, pointer, size, stream):
        self._pool = pool
        self._pointer = pointer
        self._size = size
        self._stream = stream

    def __del__(self):
        self._pool.deallocate(self._pointer, self._size, self._stream)


def _make_allocator(cupy):
    memory = cupy.cuda.memory

    def allocate(size):
        device = cupy.cuda.device.get_device_id()
        stream = cupy.cuda.get_current_stream().ptr
        pool = device_pool(device)
        pointer = pool.try_allocate(size, stream)
        if not pointer:
            # Arrays in unreachable cycles hold memory until a collection frees them.
            gc.collect()
            pointer = pool.try_allocate(size, stream)
        if not pointer:
            message = pool.message()  # before the next library call replaces it
            error = memory.OutOfMemoryError(size, pool.stats()["live_bytes"])
            error.args = (error.args[0] + " vmm_pmr: " + message,)
            raise error
        owner = _Allocation(pool, pointer, size, stream)
        return memory.MemoryPointer(memory.UnownedMemory(pointer, size, owner, device), 0)

    return allocate


def enable(footprint_limit=None, release_threshold=None, reservation_size=None, record=None):
    """Makes CuPy allocate from vmm_pmr's device pools, with these options.

    The options are those of vmm_pmr.set_device_pool_options() (VMM_PMR_CONF); None
    keeps the environment's. They apply only if no device pool exists yet. Calling it
    again while enabled is allowed as long as the options stay the same.
    """
    options = dict(
        footprint_limit=footprint_limit,
        release_threshold=release_threshold,
        reservation_size=reservation_size,
        record=record,
    )
    cupy = _import_cupy()
    set_device_pool_options(**options)
    if _enabled:
        return
    previous = cupy.cuda.memory.get_allocator()
    cupy.cuda.set_allocator(_make_allocator(cupy))
    _enabled["previous"] = previous


def disable():
    """Puts back the allocator enable() replaced. Memory vmm_pmr lent stays valid until
    CuPy drops it."""
    if not _enabled:
        return
    cupy = _import_cupy()
    cupy.cuda.set_allocator(_enabled.pop("previous"))


def is_enabled():
    """Whether CuPy allocates from vmm_pmr now."""
    return bool(_enabled)


def _device_index(cupy, device):
    return cupy.cuda.device.get_device_id() if device is None else int(device)


def stats(device=None):
    """The statistics of the pool CuPy uses on `device` (default: the current one)."""
    cupy = _import_cupy()
    return device_pool(_device_index(cupy, device)).stats()


def empty_cache(device=None):
    """Gives the cached memory of `device`'s pool back to the driver (whole free chunks);
    the bytes released."""
    cupy = _import_cupy()
    return device_pool(_device_index(cupy, device)).trim(0)
