"""Replays an RMM-format allocation trace through PyTorch's own caching allocator: the
PyTorch rows beside vmm_pmr_bench replay's for the same trace.

Every `allocate` row becomes a raw allocation of its size on its stream (one
torch.cuda.Stream per stream id of the trace; 0 is the default stream), every `free`
row frees the allocation with that pointer. The first replay starts from an empty
allocator; the steady state is the median of --repeats later replays, which find the
cache the earlier ones left. Between replays the allocations the trace leaves live are
freed (untimed). The trace's peak live is computed from the trace itself
(trace_stats.py), so it is the same denominator vmm_pmr_bench uses.

PYTORCH_CUDA_ALLOC_CONF is read once per process, so each allocator runs in a process of
its own: with several --allocator values the script runs itself once per value and
merges the rows.

    python3 bench/frameworks/replay_with_torch.py --trace traces/pytorch-gpt-train.csv.gz \
        --allocator native expandable --json replay-torch.json

Timing calls torch._C's raw allocation functions, the ones
torch.cuda.caching_allocator_alloc / caching_allocator_delete wrap: the wrapper's device
guard and checks cost microseconds a call, more than the allocator itself
(--api public times the wrappers instead). python_loop_us_per_op is the same loop with
functions that do nothing: the interpreter's share of every figure.

JSON: {"suite": "replay_torch", "trace", "trace_name", "trace_events",
"trace_peak_live_bytes", "trace_live_bytes_at_end", "trace_streams", "skipped_zero_size",
"skipped_unmatched_frees", "repeats", "api", "device", "torch_version", "rows": [...]},
one row per allocator:
    method, label                  torch_native / torch_expandable, and for humans
    first_us_per_op                the first replay's time over its operations
    steady_us_per_op               median of the later replays' µs per operation
    steady_samples_us_per_op       each later replay's µs per operation
    peak_held_first_bytes          max_memory_reserved during the first replay
    peak_held_steady_bytes         the largest max_memory_reserved of the later replays
                                   (peaks reset before each)
    peak_live_bytes                the trace's peak live (the same in every row)
    held_over_live_first, held_over_live_steady    the peaks held over peak live
    torch_peak_allocated_bytes     max_memory_allocated in the first replay (PyTorch's
                                   block sizes: requests rounded up to 512 B)
    held_at_end_bytes              memory_reserved after the last replay, before
                                   empty_cache (the trace's final allocations still live)
    held_after_empty_cache_bytes   memory_reserved after empty_cache, at the same point
    python_loop_us_per_op          the loop alone (see above)
    operations                     allocations and frees replayed per replay
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import allocator_choice  # noqa: E402
import trace_stats  # noqa: E402

TORCH_ALLOCATORS = ("native", "expandable")
LABELS = {
    "native": "PyTorch caching allocator",
    "expandable": "PyTorch caching allocator, expandable segments",
}


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trace", required=True, help="an RMM-format trace (.csv or .csv.gz)")
    parser.add_argument(
        "--allocator",
        nargs="+",
        choices=TORCH_ALLOCATORS,
        default=["native"],
        help="PyTorch allocator settings to replay through, each in its own process "
        "(default native)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="replays after the first, for the steady state (default 3)",
    )
    parser.add_argument(
        "--api",
        choices=("direct", "public"),
        default="direct",
        help="direct: torch._C's raw allocation functions (default); "
        "public: caching_allocator_alloc/delete",
    )
    parser.add_argument("--json", help="write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats={args.repeats}: at least one replay after the first")
    if len(set(args.allocator)) != len(args.allocator):
        parser.error(f"--allocator {' '.join(args.allocator)} names one twice")
    return args


def load_operations(path):
    """(operations, slots, stats, skipped): operations are (is_allocate, slot, size, stream id)
    with each allocation given a slot, so the replay indexes a list instead of hashing
    pointers; zero-size allocations (and their frees) and frees whose allocation the trace
    lacks are skipped and counted; failed allocations are skipped."""
    events = list(trace_stats.read_events(path))
    stats = trace_stats.compute_stats(events)
    operations = []
    slot_of_pointer = {}
    zero_size_pointers = set()
    skipped = {"zero_size": 0, "unmatched_frees": 0}
    slots = 0
    for event in events:
        if event.action == trace_stats.ALLOCATE_FAILURE:
            continue
        if event.is_allocate:
            if event.size == 0:
                zero_size_pointers.add(event.pointer)
                skipped["zero_size"] += 1
                continue
            slot_of_pointer[event.pointer] = slots
            operations.append((True, slots, event.size, event.stream))
            slots += 1
        elif event.pointer in slot_of_pointer:
            operations.append((False, slot_of_pointer.pop(event.pointer), 0, event.stream))
        elif event.pointer in zero_size_pointers:
            zero_size_pointers.discard(event.pointer)
            skipped["zero_size"] += 1
        else:
            skipped["unmatched_frees"] += 1
    return operations, slots, stats, skipped


def replay(operations, slots, allocate, free):
    """Runs the operations once; returns (seconds, pointers still live)."""
    pointers = [0] * slots
    started = time.perf_counter()
    for is_allocate, slot, size, stream in operations:
        if is_allocate:
            pointers[slot] = allocate(size, stream)
        else:
            free(pointers[slot])
            pointers[slot] = 0
    elapsed = time.perf_counter() - started
    return elapsed, [pointer for pointer in pointers if pointer]


def run_one(args, allocator_name):
    allocator_choice.prepare_environment(allocator_name)
    import torch

    if not torch.cuda.is_available():
        raise SystemExit(
            "replay_with_torch.py needs a CUDA device; torch.cuda.is_available() is False"
        )
    operations, slots, stats, skipped = load_operations(args.trace)
    device = torch.cuda.current_device()
    torch.cuda.init()

    # One stream per recorded stream id, kept alive until the replays end; the
    # operations then carry the handle itself.
    streams = {}
    for _, _, _, stream_id in operations:
        if stream_id not in streams:
            streams[stream_id] = (
                torch.cuda.default_stream(device) if stream_id == 0 else torch.cuda.Stream(device)
            )
    operations = [
        (is_allocate, slot, size, streams[stream_id].cuda_stream)
        for is_allocate, slot, size, stream_id in operations
    ]

    if args.api == "public":

        def allocate(size, stream):
            return torch.cuda.caching_allocator_alloc(size, device, stream)

        free = torch.cuda.caching_allocator_delete
    else:
        # Called with the device current already, as the wrappers would make it.
        allocate = torch._C._cuda_cudaCachingAllocator_raw_alloc
        free = torch._C._cuda_cudaCachingAllocator_raw_delete

    def release(pointers):
        for pointer in pointers:
            free(pointer)
        torch.cuda.synchronize()

    loop_seconds, _ = replay(operations, slots, lambda size, stream: 1, lambda pointer: None)

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    first_seconds, live = replay(operations, slots, allocate, free)
    peak_held_first = torch.cuda.max_memory_reserved()
    torch_peak_allocated = torch.cuda.max_memory_allocated()
    release(live)

    steady_samples = []
    peak_held_steady = 0
    for repeat in range(args.repeats):
        torch.cuda.reset_peak_memory_stats()
        seconds, live = replay(operations, slots, allocate, free)
        steady_samples.append(seconds * 1e6 / len(operations))
        peak_held_steady = max(peak_held_steady, torch.cuda.max_memory_reserved())
        if repeat + 1 < args.repeats:
            release(live)
    torch.cuda.synchronize()
    held_at_end = torch.cuda.memory_reserved()
    torch.cuda.empty_cache()
    held_after_empty_cache = torch.cuda.memory_reserved()
    release(live)

    peak_live = stats.peak_live_bytes
    row = {
        "method": f"torch_{allocator_name}",
        "label": LABELS[allocator_name],
        "first_us_per_op": first_seconds * 1e6 / len(operations),
        "steady_us_per_op": statistics.median(steady_samples),
        "steady_samples_us_per_op": steady_samples,
        "peak_held_first_bytes": peak_held_first,
        "peak_held_steady_bytes": peak_held_steady,
        "peak_live_bytes": peak_live,
        "held_over_live_first": peak_held_first / peak_live if peak_live else None,
        "held_over_live_steady": peak_held_steady / peak_live if peak_live else None,
        "torch_peak_allocated_bytes": torch_peak_allocated,
        "held_at_end_bytes": held_at_end,
        "held_after_empty_cache_bytes": held_after_empty_cache,
        "python_loop_us_per_op": loop_seconds * 1e6 / len(operations),
        "operations": len(operations),
    }
    return {
        "suite": "replay_torch",
        "trace": args.trace,
        "trace_name": os.path.basename(args.trace),
        "trace_events": stats.events,
        "trace_peak_live_bytes": peak_live,
        "trace_live_bytes_at_end": stats.live_bytes_at_end,
        "trace_streams": stats.streams,
        "skipped_zero_size": skipped["zero_size"],
        "skipped_unmatched_frees": skipped["unmatched_frees"],
        "repeats": args.repeats,
        "api": args.api,
        "device": torch.cuda.get_device_name(device),
        "torch_version": torch.__version__,
        "rows": [row],
    }


def run_each_in_its_own_process(args):
    """Runs this script once per allocator and merges the rows into one result."""
    merged = None
    with tempfile.TemporaryDirectory() as folder:
        for name in args.allocator:
            output = os.path.join(folder, f"{name}.json")
            command = [
                sys.executable,
                os.path.abspath(__file__),
                "--trace",
                args.trace,
                "--allocator",
                name,
                "--repeats",
                str(args.repeats),
                "--api",
                args.api,
                "--json",
                output,
            ]
            completed = subprocess.run(command, stdout=subprocess.DEVNULL)
            if completed.returncode != 0:
                raise SystemExit(
                    f"replay_with_torch.py: the {name} replay failed (exit {completed.returncode})"
                )
            with open(output, encoding="utf-8") as stream:
                result = json.load(stream)
            if merged is None:
                merged = result
            else:
                merged["rows"].extend(result["rows"])
    return merged


def print_summary(result):
    mib = 1024 * 1024
    peak_live = result["trace_peak_live_bytes"]
    print(
        f"replay_with_torch: {result['trace_name']}, {result['trace_events']:,} events on "
        f"{result['trace_streams']} stream(s), peak live {peak_live / mib:,.0f} MiB, "
        f"on {result['device']} (torch {result['torch_version']}, {result['api']} calls)"
    )
    if result["skipped_zero_size"] or result["skipped_unmatched_frees"]:
        print(
            f"  skipped: {result['skipped_zero_size']:,} zero-size events, "
            f"{result['skipped_unmatched_frees']:,} frees without their allocation"
        )
    for row in result["rows"]:
        first, steady = row["peak_held_first_bytes"], row["peak_held_steady_bytes"]
        ratios = (
            f" ({first / peak_live:.3f} x live, then {steady / peak_live:.3f} x)"
            if peak_live
            else ""
        )
        print(
            f"  {row['label']}: first {row['first_us_per_op']:.2f} µs/op, "
            f"steady {row['steady_us_per_op']:.2f} µs/op "
            f"(the loop alone {row['python_loop_us_per_op']:.2f})\n"
            f"    held {first / mib:,.0f} MiB first, {steady / mib:,.0f} MiB steady{ratios}; "
            f"after empty_cache {row['held_after_empty_cache_bytes'] / mib:,.0f} MiB"
        )


def main(argv=None):
    args = parse_arguments(argv)
    if not os.path.exists(args.trace):
        raise SystemExit(f"replay_with_torch.py: no trace at {args.trace}")
    if len(args.allocator) > 1:
        result = run_each_in_its_own_process(args)
    else:
        try:
            result = run_one(args, args.allocator[0])
        except trace_stats.TraceError as error:
            raise SystemExit(f"replay_with_torch.py: {error}") from None
    print_summary(result)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
