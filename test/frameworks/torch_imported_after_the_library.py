"""The library loaded and its device pool in use before PyTorch is imported, the order
of a script that sets vmm_pmr's options and reads its statistics first: PyTorch then
imports, vmm_pmr.torch.enable() takes it onto that same pool, and a computation gives
the same result as on PyTorch's own allocator. Each order runs in a child, with
MALLOC_PERTURB_ at the values Meson might draw, since a crash there can depend on it.

    torch_imported_after_the_library.py                  the test: runs the children
    torch_imported_after_the_library.py child native     PyTorch's allocator only
    torch_imported_after_the_library.py child vmm_pmr    the library first, then PyTorch
"""

import json
import os
import sys


def computation(torch):
    generator = torch.Generator(device="cuda").manual_seed(0)
    a = torch.randn(512, 512, device="cuda", generator=generator)
    return float((a @ a.T).sum().item())


def child(allocator):
    seen = {}
    if allocator == "vmm_pmr":
        import vmm_pmr

        vmm_pmr.set_device_pool_options(footprint_limit=1.02)
        seen["live_before_torch"] = vmm_pmr.device_pool(0).stats()["live_count"]
        import torch
        import vmm_pmr.torch

        vmm_pmr.torch.enable()
        seen["result"] = computation(torch)
        seen["allocations"] = vmm_pmr.torch.stats(0)["allocations"]
    else:
        import torch

        seen["result"] = computation(torch)
    return seen


def main():
    if len(sys.argv) > 1:
        print(json.dumps(child(sys.argv[2])))
        return 0

    from framework_support import require_torch_gpu, run_child

    require_torch_gpu()
    native = run_child(__file__, "child", "native")
    failures = []
    for perturb in ("0", "66", "245"):
        os.environ["MALLOC_PERTURB_"] = perturb
        seen = run_child(__file__, "child", "vmm_pmr")
        print("MALLOC_PERTURB_=" + perturb + ":", seen)
        if seen["result"] != native["result"]:
            failures.append(
                "MALLOC_PERTURB_=" + perturb + ": the result on vmm_pmr, " + str(seen["result"])
                + ", differs from PyTorch's own allocator's, " + str(native["result"])
            )
        if seen["allocations"] == 0:
            failures.append("MALLOC_PERTURB_=" + perturb + ": nothing was allocated from vmm_pmr")
    for failure in failures:
        print("FAIL: " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
