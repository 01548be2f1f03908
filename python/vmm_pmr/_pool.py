"""Pool: one vmm_pmr_pool (a stream_ordered_resource on one device) seen from Python.

A Pool either owns its pool (Pool(device, options): destroyed by close(), by `with`, or
when collected) or borrows one of the device pools, which belong to the library until
the process exits (vmm_pmr.device_pool()). Every failed call raises vmm_pmr.Error with
the library's message; the pool stays usable.
"""

import ctypes

from ._errors import Error
from ._library import STAT_NAMES, Stats, last_error, load_library
from ._streams import stream_pointer

# vmm_pmr_sleep_hook: void(vmm_pmr_pool*, void*).
_SLEEP_HOOK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


def _byte_count(name, value):
    value = int(value)
    if value < 0:
        raise ValueError(name + " must be a number of bytes >= 0, not " + str(value))
    return value


class Pool:
    """Stream-ordered device memory: allocate(size, stream) / deallocate(pointer, size, stream)."""

    def __init__(self, device=0, options=""):
        library = load_library()
        handle = library.vmm_pmr_pool_create(int(device), str(options).encode())
        if not handle:
            raise Error(last_error(library))
        self._library = library
        self._handle = handle
        self._owned = True
        self.device = int(device)

    @classmethod
    def _borrow(cls, library, handle, device):
        pool = cls.__new__(cls)
        pool._library = library
        pool._handle = handle
        pool._owned = False
        pool.device = device
        return pool

    def _live_handle(self):
        if self._handle is None:
            raise Error("this vmm_pmr.Pool was closed; create a new Pool to allocate again")
        return self._handle

    def _check(self, result):
        if result == -1:
            raise Error(last_error(self._library))
        return result

    def allocate(self, size, stream=None):
        """The address (an int) of `size` bytes usable on `stream` at once."""
        pointer = self._library.vmm_pmr_pool_allocate(
            self._live_handle(), _byte_count("size", size), stream_pointer(stream)
        )
        if not pointer:
            raise Error(last_error(self._library))
        return pointer

    def try_allocate(self, size, stream=None):
        """Like allocate(), but 0 instead of an exception; message() then says why."""
        return self._library.vmm_pmr_pool_allocate(
            self._live_handle(), _byte_count("size", size), stream_pointer(stream)
        ) or 0

    def message(self):
        """This thread's last error message from the library."""
        return last_error(self._library)

    def deallocate(self, pointer, size, stream=None):
        """Frees `pointer` (`size` bytes, as allocated): reusable after `stream`'s work so far."""
        result = self._library.vmm_pmr_pool_deallocate(
            self._live_handle(), pointer, _byte_count("size", size), stream_pointer(stream)
        )
        self._check(result)

    def free(self, pointer):
        """Frees `pointer` by address alone, on the stream it was allocated on."""
        self._check(self._library.vmm_pmr_pool_free(self._live_handle(), pointer))

    def trim(self, keep=0):
        """Gives whole free chunks back while more than `keep` bytes stay cached; returns
        the bytes released."""
        keep = _byte_count("keep", keep)
        return self._check(self._library.vmm_pmr_pool_trim(self._live_handle(), keep))

    def settle(self, stream=None):
        """Waits for `stream`; its freed blocks become reusable by every stream.
        Call it before destroying a stream that freed memory into the pool."""
        self._check(self._library.vmm_pmr_pool_settle(self._live_handle(), stream_pointer(stream)))

    def sleep(self, keep=True):
        """Gives all physical memory back while every address stays valid; with `keep`, the
        contents of live allocations are copied to host memory for wake(). Waits for all
        work on the device first. Returns the bytes released."""
        return self._check(self._library.vmm_pmr_pool_sleep(self._live_handle(), 1 if keep else 0))

    def wake(self):
        """Maps new memory at the same addresses and restores kept contents; on failure
        (the device cannot hold it) the pool stays asleep, ready for another wake()."""
        self._check(self._library.vmm_pmr_pool_wake(self._live_handle()))

    def set_sleep_hooks(self, before_sleep=None, after_wake=None):
        """Callables sleep() runs first and wake() runs once the memory is back (None:
        none); neither runs when there is nothing to do. An exception in one is printed
        and ignored: it cannot cross the C library."""
        hooks = [None if hook is None else _SLEEP_HOOK(lambda pool, user, hook=hook: hook())
                 for hook in (before_sleep, after_wake)]
        pointers = [None if hook is None else ctypes.cast(hook, ctypes.c_void_p) for hook in hooks]
        self._check(self._library.vmm_pmr_pool_set_sleep_hooks(self._live_handle(), *pointers, None))
        self._sleep_hooks = hooks  # alive while the library may call them

    def asleep(self):
        """Whether the pool is asleep."""
        return self._check(self._library.vmm_pmr_pool_asleep(self._live_handle())) == 1

    def stats(self):
        """The pool's statistics (stream_ordered_stats) as a dict of ints."""
        stats = Stats()
        self._check(self._library.vmm_pmr_pool_stats(self._live_handle(), ctypes.byref(stats)))
        return {name: getattr(stats, name) for name in STAT_NAMES}

    def close(self):
        """Destroys an owned pool; returns how many allocations were still live (leaked)."""
        if not self._owned:
            raise Error(
                "device " + str(self.device) + "'s pool belongs to the library until the process "
                "exits and cannot be closed; trim() gives its cached memory back"
            )
        if self._handle is None:
            return 0
        handle, self._handle = self._handle, None
        return self._library.vmm_pmr_pool_destroy(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()

    def __del__(self):
        if getattr(self, "_owned", False) and self._handle is not None:
            self.close()

    def __repr__(self):
        kind = "owned" if self._owned else "device pool"
        state = "closed" if self._handle is None else hex(self._handle)
        return "<vmm_pmr.Pool device=%d %s %s>" % (self.device, kind, state)
