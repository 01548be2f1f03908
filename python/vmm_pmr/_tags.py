"""Tags: memory that sleeps and wakes together (vmm_pmr_set_tag, vmm_pmr_tagged_pool).

While a tag is current on a thread, the framework hooks (PyTorch's, CuPy's) allocate that
thread's memory from the device's pool for the tag; sleep() and wake() then act on the
pools of the tags named, leaving other memory alone.
"""

import contextlib
import threading

from ._errors import Error
from ._library import last_error, load_library
from ._pool import Pool

_lock = threading.Lock()
_pools = {}


def tagged_pool(tag, device=0):
    """The Pool of device `device` for `tag` ("" is the device pool), made at first use."""
    key = (str(tag), int(device))
    pool = _pools.get(key)
    if pool is not None:
        return pool
    with _lock:
        if key not in _pools:
            library = load_library()
            handle = library.vmm_pmr_tagged_pool(key[1], key[0].encode())
            if not handle:
                raise Error(last_error(library))
            _pools[key] = Pool._borrow(library, handle, key[1])
        return _pools[key]


def current_tag():
    """This thread's tag; "" when none."""
    return load_library().vmm_pmr_current_tag().decode()


@contextlib.contextmanager
def tag(name):
    """Within the block, this thread's framework allocations take the pool of tag `name`."""
    library = load_library()
    previous = library.vmm_pmr_current_tag()
    if library.vmm_pmr_set_tag(str(name).encode()) != 0:
        raise Error(last_error(library))
    try:
        yield
    finally:
        library.vmm_pmr_set_tag(previous)


def _names(tags):
    return [tags] if isinstance(tags, str) else list(tags)


def sleep(tags, keep=True, device=0):
    """Gives the physical memory of each tag's pool back (addresses stay valid); with
    `keep`, contents are kept in host memory for wake(). Returns the bytes released."""
    return sum(tagged_pool(name, device).sleep(keep) for name in _names(tags))


def wake(tags, device=0):
    """Maps new memory for each tag's pool at the same addresses, restoring kept contents."""
    for name in _names(tags):
        tagged_pool(name, device).wake()
