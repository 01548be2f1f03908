"""The exception the package raises for a failed vmm_pmr call.

The C library says what was asked, why it failed and what to do in vmm_pmr_last_error();
Error carries that text unchanged, so Python users read the same message C users do.
"""


class Error(RuntimeError):
    """A vmm_pmr call failed; the message is the library's (or the package's) explanation."""

    __module__ = "vmm_pmr"  # tracebacks say vmm_pmr.Error, the name users catch
