"""The process's device pools (vmm_pmr_device_pool), the ones the framework hooks use.

The library creates a device's pool at its first use with the options of VMM_PMR_CONF,
read once; this module remembers which devices' pools it has asked for, so that
setting options afterwards can be refused instead of silently ignored.
"""

import threading

from ._errors import Error
from ._library import last_error, load_library
from ._pool import Pool
from ._streams import stream_pointer

_lock = threading.Lock()
_pools = {}
_outside_users = []


def device_pool(device=0):
    """The Pool of CUDA device `device`, created at its first use; never closed."""
    pool = _pools.get(device)
    if pool is not None:
        return pool
    with _lock:
        if device not in _pools:
            library = load_library()
            handle = library.vmm_pmr_device_pool(int(device))
            if not handle:
                raise Error(last_error(library))
            _pools[device] = Pool._borrow(library, handle, int(device))
        return _pools[device]


def note_outside_user(description):
    """Records that code outside this module (a framework hook) may create device pools."""
    _outside_users.append(description)


def pools_in_use():
    """Why device pools may exist already ("" if none can): options set now would not apply."""
    if _pools:
        return "device " + str(min(_pools)) + "'s pool exists already"
    if _outside_users:
        return _outside_users[0] + " may have created device pools already"
    return ""


def stats(device=0):
    """Device `device`'s pool statistics as a dict."""
    return device_pool(device).stats()


def trim(device=0, keep=0):
    """Gives device `device`'s whole free chunks back while more than `keep` bytes stay
    cached; waits for the streams that freed into them. The bytes released."""
    return device_pool(device).trim(keep)


def empty_cache(device=0):
    """trim(device, keep=0): every whole free chunk goes back to the driver."""
    return trim(device, 0)


def settle(stream=None, device=0):
    """Waits for `stream`; the blocks it freed into device `device`'s pool become
    reusable by every stream. Call it before destroying a stream that freed memory."""
    device_pool(device).settle(stream_pointer(stream))
