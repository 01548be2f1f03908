"""Out of device memory under vmm_pmr.torch raises torch.OutOfMemoryError, with vmm_pmr's
message, and the process goes on: later allocations work, and memory filled up to the
limit and freed can be allocated again.

    torch_out_of_memory.py          the test: runs the child
    torch_out_of_memory.py child    the child: prints what it saw as JSON
"""

import sys

GiB = 1 << 30


def child():
    import vmm_pmr.torch

    vmm_pmr.torch.enable()
    import torch

    seen = {}
    _, total = torch.cuda.mem_get_info(0)
    try:
        torch.empty(2 * total, dtype=torch.uint8, device="cuda")
        seen["too_large"] = "no error"
    except torch.OutOfMemoryError as error:
        seen["too_large"] = "OutOfMemoryError: " + str(error)
    seen["after_too_large"] = float(torch.ones(1 << 20, device="cuda").sum().item())

    # Fill the device in 1 GiB tensors until it refuses, free them all, fill again.
    counts = []
    for _ in range(2):
        blocks = []
        try:
            while len(blocks) * GiB < 2 * total:
                blocks.append(torch.empty(GiB, dtype=torch.uint8, device="cuda"))
            seen["fill"] = "no error"
        except torch.OutOfMemoryError:
            seen["fill"] = "OutOfMemoryError"
        counts.append(len(blocks))
        del blocks
        torch.cuda.synchronize()
    seen["fill_counts"] = counts
    doubled = torch.arange(1000, device="cuda", dtype=torch.float64) * 2
    seen["after_fill"] = float(doubled.sum().item())
    return seen


def main():
    if len(sys.argv) > 1:
        import json

        print(json.dumps(child()))
        return 0

    from framework_support import require_torch_gpu, run_child

    require_torch_gpu()
    seen = run_child(__file__, "child")
    for key, value in seen.items():
        print(key + ":", value)
    failures = []
    if not seen["too_large"].startswith("OutOfMemoryError") or "vmm_pmr" not in seen["too_large"]:
        failures.append(
            "a request for twice the device did not raise torch.OutOfMemoryError from vmm_pmr"
        )
    if seen["after_too_large"] != float(1 << 20):
        failures.append("a tensor computed after the error gave a wrong sum")
    if seen["fill"] != "OutOfMemoryError":
        failures.append("filling the device did not end in torch.OutOfMemoryError")
    first, second = seen["fill_counts"]
    if first == 0 or second < first:
        failures.append("after freeing, the device could not be filled as far again")
    if seen["after_fill"] != 999000.0:
        failures.append("a tensor computed after filling gave a wrong sum")
    for failure in failures:
        print("FAIL: " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
