"""A CuPy workload gives the same results on CuPy's own memory pool and on vmm_pmr
(vmm_pmr.cupy.enable()), each run in its own process; disable() then puts CuPy's pool
back.

The workload (random numbers from a fixed seed, matrix products, an FFT, a sort,
reductions, arrays freed and reallocated on a second stream) is deterministic, so its
results are compared exactly (as float.hex).

    cupy_results_match_pool.py            the test: runs both children
    cupy_results_match_pool.py native     one child: prints its results as JSON
    cupy_results_match_pool.py vmm_pmr
"""

import sys


def workload(allocator):
    import cupy

    if allocator == "vmm_pmr":
        import vmm_pmr.cupy

        default_allocator = cupy.cuda.memory.get_allocator()
        vmm_pmr.cupy.enable()

    generator = cupy.random.default_rng(1234)
    results = {}
    a = generator.standard_normal((512, 512), dtype=cupy.float64)
    b = generator.standard_normal((512, 512), dtype=cupy.float64)
    results["matmul"] = float((a @ b).sum())
    results["fft"] = float(cupy.abs(cupy.fft.fft(a[0])).sum())
    results["sort"] = float(cupy.sort(b.ravel())[1000])
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        scratch = [cupy.full((1 << 16,), step, dtype=cupy.float32) for step in range(32)]
        results["second_stream"] = float(sum(float(array.sum()) for array in scratch))
        del scratch
    stream.synchronize()
    results["reuse"] = float(cupy.arange(1 << 20, dtype=cupy.float64).mean())
    del a, b

    output = {
        "results": {key: value.hex() for key, value in results.items()},
        "pool_allocations": 0,
    }
    if allocator == "vmm_pmr":
        # The stream freed into the pool: settle it before CuPy destroys it.
        vmm_pmr.settle(stream)
        output["pool_allocations"] = vmm_pmr.cupy.stats(0)["allocations"]
        vmm_pmr.cupy.disable()
        output["restored"] = cupy.cuda.memory.get_allocator() == default_allocator
    return output


def main():
    if len(sys.argv) > 1:
        import json

        print(json.dumps(workload(sys.argv[1])))
        return 0

    from framework_support import require_cupy_gpu, run_child

    require_cupy_gpu()
    native = run_child(__file__, "native")
    pooled = run_child(__file__, "vmm_pmr")
    print("CuPy's pool:", native["results"])
    print("vmm_pmr    :", pooled["results"])
    print("allocations from the vmm_pmr pool:", pooled["pool_allocations"])
    if pooled["pool_allocations"] == 0:
        print("FAIL: the vmm_pmr run allocated nothing from the pool")
        return 1
    if not pooled["restored"]:
        print("FAIL: disable() did not put CuPy's allocator back")
        return 1
    if native["results"] != pooled["results"]:
        print("FAIL: the results differ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
