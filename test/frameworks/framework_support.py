"""What the framework tests share: skipping where they cannot run, and child processes.

A test exits 77 (Meson's skip) with the reason on stdout when its framework, a GPU or
the PyTorch hooks are missing. Each workload runs in a child process of its own, so the
native run and the vmm_pmr run never share an allocator, and the child's stderr is
checked for a leak report and for failed frees in finalisers.
"""

import json
import os
import subprocess
import sys

SKIP = 77


def skip(reason):
    print("SKIP: " + reason)
    sys.exit(SKIP)


def require_torch_gpu():
    try:
        import torch
    except ImportError as error:
        skip("PyTorch is not importable (" + str(error) + ")")
    if not torch.cuda.is_available():
        skip("PyTorch sees no CUDA device")
    if not os.environ.get("VMM_PMR_TORCH_LIBRARY"):
        skip("vmm_pmr was configured without its PyTorch hooks (Meson option torch)")


def require_cupy_gpu():
    try:
        import cupy
    except ImportError as error:
        skip("CuPy is not importable (" + str(error) + ")")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError as error:
        skip("CuPy sees no CUDA device (" + str(error) + ")")
    if count == 0:
        skip("CuPy sees no CUDA device")


def run_child(script, *arguments):
    """Runs `script` with `arguments` in a fresh Python; its last stdout line as JSON.

    Fails when the child fails, reports leaked allocations on stderr, or a finaliser
    raised in it."""
    # A crash in native code then prints the Python stack of every thread on stderr.
    environment = dict(os.environ, PYTHONFAULTHANDLER="1")
    child = subprocess.run(
        [sys.executable, script] + list(arguments),
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
    )
    sys.stderr.write(child.stderr)
    if child.returncode != 0:
        # Meson sets a random MALLOC_PERTURB_ per test: a crash that depends on it
        # (uninitialised heap memory read somewhere) is reproduced with the same value.
        perturb = os.environ.get("MALLOC_PERTURB_", "unset")
        raise SystemExit(
            "child " + " ".join(arguments) + " failed with status " + str(child.returncode)
            + " (MALLOC_PERTURB_=" + perturb + "):\n" + child.stdout + child.stderr
        )
    if "leak" in child.stderr.lower():
        raise SystemExit(
            "child " + " ".join(arguments) + " reported leaks at exit:\n" + child.stderr
        )
    # A free that raised in a finaliser (vmm_pmr.cupy's owners) shows only as this line.
    if "Exception ignored" in child.stderr:
        raise SystemExit(
            "child " + " ".join(arguments) + " had a failing finaliser:\n" + child.stderr
        )
    return json.loads(child.stdout.strip().splitlines()[-1])
