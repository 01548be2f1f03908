"""Out of device memory under vmm_pmr.cupy raises cupy.cuda.memory.OutOfMemoryError, with
vmm_pmr's message, and the process goes on: later allocations work, and memory filled up
to the limit and freed can be allocated again.

    cupy_out_of_memory.py          the test: runs the child
    cupy_out_of_memory.py child    the child: prints what it saw as JSON
"""

import sys

GiB = 1 << 30


def child():
    import cupy
    import vmm_pmr.cupy

    vmm_pmr.cupy.enable()
    seen = {}
    _, total = cupy.cuda.runtime.memGetInfo()
    try:
        cupy.empty(2 * total, dtype=cupy.uint8)
        seen["too_large"] = "no error"
    except cupy.cuda.memory.OutOfMemoryError as error:
        seen["too_large"] = "OutOfMemoryError: " + str(error)
    seen["after_too_large"] = float(cupy.ones(1 << 20, dtype=cupy.float32).sum())

    counts = []
    for _ in range(2):
        blocks = []
        try:
            while len(blocks) * GiB < 2 * total:
                blocks.append(cupy.empty(GiB, dtype=cupy.uint8))
            seen["fill"] = "no error"
        except cupy.cuda.memory.OutOfMemoryError:
            seen["fill"] = "OutOfMemoryError"
        counts.append(len(blocks))
        del blocks
        cupy.cuda.Device().synchronize()
    seen["fill_counts"] = counts
    seen["after_fill"] = float((cupy.arange(1000, dtype=cupy.float64) * 2).sum())
    return seen


def main():
    if len(sys.argv) > 1:
        import json

        print(json.dumps(child()))
        return 0

    from framework_support import require_cupy_gpu, run_child

    require_cupy_gpu()
    seen = run_child(__file__, "child")
    for key, value in seen.items():
        print(key + ":", value)
    failures = []
    if not seen["too_large"].startswith("OutOfMemoryError") or "vmm_pmr" not in seen["too_large"]:
        failures.append(
            "a request for twice the device did not raise CuPy's OutOfMemoryError from vmm_pmr"
        )
    if seen["after_too_large"] != float(1 << 20):
        failures.append("an array computed after the error gave a wrong sum")
    if seen["fill"] != "OutOfMemoryError":
        failures.append("filling the device did not end in CuPy's OutOfMemoryError")
    first, second = seen["fill_counts"]
    if first == 0 or second < first:
        failures.append("after freeing, the device could not be filled as far again")
    if seen["after_fill"] != 999000.0:
        failures.append("an array computed after filling gave a wrong sum")
    for failure in failures:
        print("FAIL: " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
