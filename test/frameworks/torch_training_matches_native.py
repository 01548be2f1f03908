"""A small transformer trained for a few steps gives bit-identical losses on PyTorch's
own allocator and on vmm_pmr (vmm_pmr.torch.enable()), each run in its own process.

Deterministic settings (fixed seed, torch.use_deterministic_algorithms, no TF32, the math
attention kernel) make the losses a function of the data alone, so they are compared
exactly (as float.hex); where memory comes from must not change a bit.

    torch_training_matches_native.py            the test: runs both children
    torch_training_matches_native.py native     one child: prints its losses as JSON
    torch_training_matches_native.py vmm_pmr
"""

import os
import sys

STEPS = 6


def train(allocator):
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    if allocator == "vmm_pmr":
        import vmm_pmr.torch

        vmm_pmr.torch.enable()
    import torch

    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.enable_flash_sdp(False)
    torch.backends.cuda.enable_mem_efficient_sdp(False)
    torch.backends.cuda.enable_math_sdp(True)

    vocabulary, width, length, batch = 101, 64, 32, 8
    device = torch.device("cuda", 0)
    layer = torch.nn.TransformerEncoderLayer(
        width, nhead=4, dim_feedforward=128, dropout=0.1, batch_first=True
    )
    model = torch.nn.Sequential(
        torch.nn.Embedding(vocabulary, width),
        torch.nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False),
        torch.nn.Linear(width, vocabulary),
    ).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, vocabulary, (STEPS, batch, length + 1), device=device)

    losses = []
    for step in range(STEPS):
        inputs, targets = tokens[step, :, :-1], tokens[step, :, 1:]
        logits = model(inputs)
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, vocabulary), targets.reshape(-1)
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    result = {"losses": [value.hex() for value in losses], "pool_allocations": 0}
    if allocator == "vmm_pmr":
        result["pool_allocations"] = vmm_pmr.torch.stats(0)["allocations"]
    return result


def main():
    if len(sys.argv) > 1:
        import json

        print(json.dumps(train(sys.argv[1])))
        return 0

    from framework_support import require_torch_gpu, run_child

    require_torch_gpu()
    native = run_child(__file__, "native")
    pooled = run_child(__file__, "vmm_pmr")
    print("native losses :", [float.fromhex(value) for value in native["losses"]])
    print("vmm_pmr losses:", [float.fromhex(value) for value in pooled["losses"]])
    print("allocations from the vmm_pmr pool:", pooled["pool_allocations"])
    if pooled["pool_allocations"] == 0:
        print("FAIL: the vmm_pmr run allocated nothing from the pool")
        return 1
    if native["losses"] != pooled["losses"]:
        print("FAIL: the losses differ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
