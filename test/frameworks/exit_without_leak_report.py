"""A script that exits with tensors and arrays still referenced (module globals, as
scripts leave them) ends cleanly on vmm_pmr: status 0, no leak report and no failed free
on stderr. Their frees come while Python finalises, late in the exit; the library never
destroys its device pools (vmm_pmr_c.h), so they still find their pool.

    exit_without_leak_report.py               the test: one child per framework found
    exit_without_leak_report.py torch|cupy    a child: allocates, keeps, exits
"""

import json
import sys

kept = []


def keep_torch():
    import vmm_pmr.torch

    vmm_pmr.torch.enable()
    import torch

    kept.extend(torch.randn(1 << 20, device="cuda") for _ in range(8))
    kept.append(torch.nn.Linear(256, 256).cuda()(torch.randn(64, 256, device="cuda")))
    torch.cuda.synchronize()
    return vmm_pmr.torch.stats(0)["live_count"]


def keep_cupy():
    import cupy
    import vmm_pmr.cupy

    vmm_pmr.cupy.enable()
    kept.extend(cupy.random.standard_normal(1 << 20) for _ in range(8))
    cupy.cuda.Device().synchronize()
    return vmm_pmr.cupy.stats(0)["live_count"]


def main():
    if len(sys.argv) > 1:
        live = keep_torch() if sys.argv[1] == "torch" else keep_cupy()
        print(json.dumps({"live_count": live}))
        return 0

    import framework_support

    children = []
    try:
        framework_support.require_torch_gpu()
        children.append("torch")
    except SystemExit:
        pass
    try:
        framework_support.require_cupy_gpu()
        children.append("cupy")
    except SystemExit:
        pass
    if not children:
        framework_support.skip(
            "neither PyTorch (with vmm_pmr's hooks) nor CuPy can run on a GPU here"
        )
    failures = []
    for framework in children:
        # run_child fails on a non-zero status or a leak report on stderr.
        seen = framework_support.run_child(__file__, framework)
        print(framework + ": live allocations at exit:", seen["live_count"])
        if seen["live_count"] == 0:
            failures.append(framework + " left nothing live, so the exit was not tested")
    for failure in failures:
        print("FAIL: " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
