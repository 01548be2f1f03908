"""Which allocator a framework script runs PyTorch on, and the memory figures read from it.

    native      PyTorch's caching allocator as configured by default
    expandable  the same with PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
    vmm_pmr     vmm_pmr's stream-ordered pool through PyTorch's pluggable allocator
                (vmm_pmr.torch.enable), with an optional footprint limit

PyTorch reads PYTORCH_CUDA_ALLOC_CONF once, when its allocator starts, and the pluggable
allocator can only be swapped in before the first CUDA allocation; so a script parses
its arguments, calls prepare_environment() and only then imports torch and calls
install().

The figures, in bytes, mean the same for every allocator:
    peak_held   the most device memory the allocator held for the process
                (native: max_memory_reserved; vmm_pmr: the pool's peak_mapped_bytes)
    peak_live   the most memory handed out and not yet freed (native: max_memory_allocated,
                which counts PyTorch's rounded block sizes; vmm_pmr: the pool's
                peak_live_bytes, the sizes PyTorch asked for). PyTorch's pluggable
                allocator raises on memory_stats(), so max_memory_allocated cannot serve.
    held_after_empty_cache   what stays held once the caches are given back
"""

import gc
import os

ALLOCATORS = ("native", "expandable", "vmm_pmr")


def add_arguments(parser):
    parser.add_argument(
        "--allocator",
        choices=ALLOCATORS,
        default="native",
        help="PyTorch's caching allocator, the same with expandable segments, or vmm_pmr's pool",
    )
    parser.add_argument(
        "--footprint-limit",
        type=float,
        help="vmm_pmr only: the pool's footprint limit (a number >= 1; default: the pool's own)",
    )


def check_arguments(parser, args):
    if args.footprint_limit is not None and args.allocator != "vmm_pmr":
        parser.error(f"--footprint-limit applies to --allocator=vmm_pmr, not {args.allocator}")
    if args.footprint_limit is not None and args.footprint_limit < 1:
        parser.error(f"--footprint-limit={args.footprint_limit}: the limit is a factor >= 1")


def prepare_environment(allocator):
    """Sets what PyTorch reads at start-up; call before importing torch."""
    if allocator == "expandable":
        settings = os.environ.get("PYTORCH_CUDA_ALLOC_CONF", "")
        if "expandable_segments" in settings:
            raise SystemExit(
                f"PYTORCH_CUDA_ALLOC_CONF={settings!r} already sets expandable_segments; "
                "unset it and let --allocator choose"
            )
        os.environ["PYTORCH_CUDA_ALLOC_CONF"] = ",".join(
            part for part in (settings, "expandable_segments:True") if part
        )


class Allocator:
    """The allocator chosen, installed into the torch module given."""

    def __init__(self, torch, name, footprint_limit=None):
        self.torch = torch
        self.name = name
        self.footprint_limit = footprint_limit
        self.plugin = None
        self.release_call = None
        if name == "vmm_pmr":
            import vmm_pmr.torch as plugin

            plugin.enable(footprint_limit=footprint_limit)
            self.plugin = plugin

    def description(self):
        if self.name == "vmm_pmr":
            limit = (
                "the pool's default"
                if self.footprint_limit is None
                else f"{self.footprint_limit:g}"
            )
            return f"vmm_pmr (footprint limit {limit})"
        if self.name == "expandable":
            return "PyTorch caching allocator, expandable segments"
        return "PyTorch caching allocator"

    def reset_peaks(self):
        """Starts the peaks afresh where the allocator can; vmm_pmr's peaks run from the start."""
        if self.plugin is None:
            self.torch.cuda.reset_peak_memory_stats()

    def peaks(self):
        """(peak_held, peak_live) in bytes since the start or the last reset_peaks()."""
        if self.plugin is not None:
            stats = self.plugin.stats()
            return int(stats["peak_mapped_bytes"]), int(stats["peak_live_bytes"])
        return self.torch.cuda.max_memory_reserved(), self.torch.cuda.max_memory_allocated()

    def held_after_empty_cache(self):
        """Bytes held once everything cached is given back (what is live stays)."""
        gc.collect()
        self.torch.cuda.synchronize()
        self.torch.cuda.empty_cache()
        if self.plugin is not None:
            self.release_call = self._release_pool_cache()
            return int(self.plugin.stats()["mapped_bytes"])
        self.release_call = "torch.cuda.empty_cache()"
        return self.torch.cuda.memory_reserved()

    def _release_pool_cache(self):
        """torch.cuda.empty_cache() reaches the pool only if the plug-in registered a
        reset function; call the package's own release as well, and say which ran."""
        for name in ("empty_cache", "trim"):
            release = getattr(self.plugin, name, None)
            if release is None:
                continue
            try:
                release()
            except TypeError as error:
                return f"vmm_pmr.torch.{name}() refused: {error}"
            return f"torch.cuda.empty_cache() and vmm_pmr.torch.{name}()"
        return "torch.cuda.empty_cache() only (vmm_pmr.torch has no empty_cache or trim)"

    def pool_stats(self):
        """vmm_pmr's whole stats dict (None for PyTorch's allocator), for the JSON."""
        return dict(self.plugin.stats()) if self.plugin is not None else None


def memory_report(allocator, peak_held, peak_live, held_after_empty_cache):
    """The memory keys every framework script writes to its JSON."""
    return {
        "peak_held_bytes": peak_held,
        "peak_live_bytes": peak_live,
        "held_over_live": peak_held / peak_live if peak_live else None,
        "held_after_empty_cache_bytes": held_after_empty_cache,
        "empty_cache_call": allocator.release_call,
        "pool_stats": allocator.pool_stats(),
    }


def memory_summary(report):
    mib = 1024 * 1024
    ratio = report["held_over_live"]
    return (
        f"peak held {report['peak_held_bytes'] / mib:,.0f} MiB, peak live "
        f"{report['peak_live_bytes'] / mib:,.0f} MiB"
        + (f" ({ratio:.3f} x)" if ratio else "")
        + f"; held after empty_cache {report['held_after_empty_cache_bytes'] / mib:,.0f} MiB"
    )
