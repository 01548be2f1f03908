"""Options for the device pools, given from Python and passed through VMM_PMR_CONF.

The library reads VMM_PMR_CONF once, when it creates the first device pool, so options
set later could not apply: set_device_pool_options() refuses them then. The options are
checked at once by creating (and destroying) a throwaway pool with them on the host
backend, so a bad value fails in the call that set it, with the library's message.
"""

import os

from ._device_pools import pools_in_use
from ._errors import Error
from ._library import last_error, load_library

CONF_VARIABLE = "VMM_PMR_CONF"


def _format(key, value):
    if isinstance(value, bool):
        raise TypeError(key + " takes a number or a string such as '1GiB', not a bool")
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    text = repr(value) if isinstance(value, float) else str(value)
    if "," in text:
        raise Error(
            key + "=" + repr(text) + " cannot be passed: VMM_PMR_CONF separates options with "
            "commas, so a value cannot hold one; choose a value without a comma"
        )
    return text


def parse_options(text):
    """'key=value,key=value' as an ordered dict (the C library checks the values)."""
    options = {}
    for part in text.split(","):
        part = part.strip()
        if part:
            key, _, value = part.partition("=")
            options[key.strip()] = value.strip()
    return options


def format_options(options):
    return ",".join(key + "=" + value for key, value in options.items())


def _check_with_library(options):
    """Raises Error with the library's message if the options would not make a pool."""
    trial = {key: value for key, value in options.items() if key != "record"}
    if trial.get("backend", "cuda") == "cuda":
        trial["backend"] = "host"  # the check must neither need nor touch a GPU
    library = load_library()
    pool = library.vmm_pmr_pool_create(0, format_options(trial).encode())
    if not pool:
        message = last_error(library)
        raise Error(CONF_VARIABLE + "=" + repr(format_options(options)) + " is refused: " + message)
    library.vmm_pmr_pool_destroy(pool)


def set_device_pool_options(
    footprint_limit=None, release_threshold=None, reservation_size=None, record=None, backend=None
):
    """Sets options for the device pools not created yet; returns the options in force.

    Each argument left None keeps what VMM_PMR_CONF already says; the others replace
    their key there. footprint_limit: a number >= 1; release_threshold and
    reservation_size: bytes (an int, or a string such as '512MiB'); record: a file for
    the allocation log; backend: 'cuda' or 'host'.
    """
    requested = {
        "footprint_limit": footprint_limit,
        "release_threshold": release_threshold,
        "reservation_size": reservation_size,
        "record": record,
        "backend": backend,
    }
    current = os.environ.get(CONF_VARIABLE, "")
    options = parse_options(current)
    for key, value in requested.items():
        if value is not None:
            options[key] = _format(key, value)
    text = format_options(options)

    in_use = pools_in_use()
    if in_use:
        if options == parse_options(current):
            return text
        raise Error(
            "the device pool options " + repr(text) + " cannot apply: " + in_use + ", with "
            + CONF_VARIABLE + "=" + repr(current) + " (the library reads it once, at the first "
            "device pool). Set the options first thing in the process, before anything "
            "allocates through vmm_pmr, or set " + CONF_VARIABLE + " in the environment."
        )

    # Set before the library is loaded, in case it reads the variable when it loads.
    os.environ[CONF_VARIABLE] = text
    try:
        _check_with_library(options)
    except BaseException:
        if current:
            os.environ[CONF_VARIABLE] = current
        else:
            del os.environ[CONF_VARIABLE]
        raise
    return text
