"""The reference training workload: a 166M-parameter GPT trained on shapes that change
every step, under PyTorch's allocator or vmm_pmr's pool, timed and measured.

8 layers, d_model 1024, 16 heads, vocabulary 32,000; bf16 autocast, AdamW. Each step
draws a sequence length in 128..2048 and a token count in 8..24 K from a seeded RNG
(batch = tokens / length), so the activation sizes change from step to step: the
allocation pattern that fragments a caching allocator. The data are synthetic counting
sequences (gpt_model.counting_sequences), so the loss falls when training works.

With --side-stream, the next step's inputs are copied from pinned host memory on a side
stream while the current step computes (the multi-stream variant): allocations then
happen on two streams.

    python3 bench/frameworks/train_gpt.py --allocator native --json native.json
    python3 bench/frameworks/train_gpt.py --allocator expandable --json expandable.json
    python3 bench/frameworks/train_gpt.py --allocator vmm_pmr --footprint-limit 1.02 --json vmm.json

JSON keys: workload, allocator, allocator_description, footprint_limit, side_stream,
seed, steps, timed_from, device, torch_version, parameters; median_step_ms, p10_step_ms,
p90_step_ms (over steps timed_from..steps-1), total_steps_s (every step, warm-up
included), step_ms, shapes ([batch, length] per step), first_loss, last_loss, loss_sum;
peak_held_bytes, peak_live_bytes, held_over_live, held_after_empty_cache_bytes,
empty_cache_call, pool_stats (vmm_pmr's stats dict, else null) (see
allocator_choice.py); vmm_pmr_conf; memory_snapshot (the path written, or null).
"""

import argparse
import json
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import allocator_choice  # noqa: E402

LAYERS, D_MODEL, HEADS = 8, 1024, 16
SHORTEST, LONGEST = 128, 2048
FEWEST_TOKENS, MOST_TOKENS = 8 * 1024, 24 * 1024


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="training steps (default 60)")
    parser.add_argument(
        "--timed-from",
        type=int,
        default=10,
        help="first step of the median (default 10: steps 10..59)",
    )
    allocator_choice.add_arguments(parser)
    parser.add_argument(
        "--side-stream",
        action="store_true",
        help="prefetch each step's inputs from pinned memory on a side stream",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seeds the shapes, the data and the weights"
    )
    parser.add_argument("--lr", type=float, default=6e-4, help="AdamW learning rate (default 6e-4)")
    parser.add_argument(
        "--memory-snapshot",
        help="native/expandable only: record PyTorch's allocator history and dump the "
        "snapshot pickle here at the end (python3 -m vmm_pmr.snapshot_to_trace converts it; "
        "slows the steps)",
    )
    parser.add_argument("--json", help="write the results to this JSON file")
    args = parser.parse_args(argv)
    allocator_choice.check_arguments(parser, args)
    if args.steps < 1:
        parser.error(f"--steps={args.steps}: at least one step")
    if not 0 <= args.timed_from < args.steps - 1:
        parser.error(
            f"--timed-from={args.timed_from} leaves fewer than two of the {args.steps} steps "
            "to time; lower it or raise --steps"
        )
    if args.memory_snapshot and args.allocator == "vmm_pmr":
        parser.error(
            "--memory-snapshot records PyTorch's own allocator; "
            "vmm_pmr records with VMM_PMR_CONF=record=PATH"
        )
    return args


def step_shapes(seed, steps):
    """(batch, length) per step, from the seeded RNG alone."""
    rng = random.Random(seed)
    shapes = []
    for _ in range(steps):
        length = rng.randint(SHORTEST, LONGEST)
        tokens = rng.randint(FEWEST_TOKENS, MOST_TOKENS)
        shapes.append((max(1, round(tokens / length)), length))
    return shapes


def summarize(values):
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return statistics.median(values), deciles[0], deciles[-1]


def main(argv=None):
    args = parse_arguments(argv)
    allocator_choice.prepare_environment(args.allocator)

    import torch
    import torch.nn.functional as F

    import gpt_model

    if not torch.cuda.is_available():
        raise SystemExit("train_gpt.py needs a CUDA device; torch.cuda.is_available() is False")
    allocator = allocator_choice.Allocator(torch, args.allocator, args.footprint_limit)
    if args.memory_snapshot:
        torch.cuda.memory._record_memory_history(
            max_entries=10_000_000, context=None, stacks="python"
        )
    device = torch.device("cuda", torch.cuda.current_device())
    torch.manual_seed(args.seed)
    model = gpt_model.GPT(LAYERS, D_MODEL, HEADS).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1)
    shapes = step_shapes(args.seed, args.steps)
    data = torch.Generator().manual_seed(args.seed)

    def host_batch(shape):
        batch, length = shape
        return gpt_model.counting_sequences(batch, length + 1, data).pin_memory()

    def train_step(sequences):
        inputs, targets = sequences[:, :-1], sequences[:, 1:]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(inputs)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    main_stream = torch.cuda.current_stream()
    side_stream = torch.cuda.Stream() if args.side_stream else None

    def prefetch(shape):
        # The copy may only overwrite memory the main stream is done with: a tensor
        # freed here returns to its allocation stream, the side stream, and
        # record_stream alone does not protect it under a pluggable allocator (PyTorch
        # forwards record_stream to one only if it registered a hook). Waiting for the
        # main stream's queued steps (all but the one about to be queued) keeps the
        # copy overlapping the current step.
        side_stream.wait_stream(main_stream)
        with torch.cuda.stream(side_stream):
            return host_batch(shape).to(device, non_blocking=True)

    step_ms, losses = [], []
    upcoming = prefetch(shapes[0]) if side_stream else None
    for step, shape in enumerate(shapes):
        torch.cuda.synchronize()
        started = time.perf_counter()
        if side_stream:
            main_stream.wait_stream(side_stream)
            sequences = upcoming
            sequences.record_stream(main_stream)
            upcoming = prefetch(shapes[step + 1]) if step + 1 < len(shapes) else None
        else:
            sequences = host_batch(shape).to(device, non_blocking=True)
        loss = train_step(sequences)
        del sequences
        torch.cuda.synchronize()
        step_ms.append((time.perf_counter() - started) * 1e3)
        losses.append(loss.item())
        del loss

    peak_held, peak_live = allocator.peaks()
    snapshot_path = None
    if args.memory_snapshot:
        torch.cuda.memory._dump_snapshot(args.memory_snapshot)
        torch.cuda.memory._record_memory_history(enabled=None)
        snapshot_path = args.memory_snapshot
    held_after = allocator.held_after_empty_cache()
    memory = allocator_choice.memory_report(allocator, peak_held, peak_live, held_after)

    median, p10, p90 = summarize(step_ms[args.timed_from :])
    results = {
        "workload": "train_gpt",
        "allocator": args.allocator,
        "allocator_description": allocator.description(),
        "footprint_limit": args.footprint_limit,
        "side_stream": args.side_stream,
        "seed": args.seed,
        "steps": args.steps,
        "timed_from": args.timed_from,
        "device": torch.cuda.get_device_name(device),
        "torch_version": torch.__version__,
        "parameters": model.parameter_count(),
        "median_step_ms": median,
        "p10_step_ms": p10,
        "p90_step_ms": p90,
        "total_steps_s": sum(step_ms) / 1e3,
        "step_ms": step_ms,
        "shapes": [list(shape) for shape in shapes],
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "loss_sum": sum(losses),
        **memory,
        "vmm_pmr_conf": os.environ.get("VMM_PMR_CONF"),
        "memory_snapshot": snapshot_path,
    }
    print(
        f"train_gpt: {allocator.description()}{', side stream' if args.side_stream else ''}, "
        f"{results['parameters'] / 1e6:.1f} M parameters on {results['device']}\n"
        f"  step: median {median:.1f} ms (p10 {p10:.1f}, p90 {p90:.1f}) over steps "
        f"{args.timed_from}..{args.steps - 1}; "
        f"all {args.steps} steps {results['total_steps_s']:.1f} s\n"
        f"  loss: first {losses[0]:.4f}, last {losses[-1]:.4f}, sum {sum(losses):.4f}\n"
        f"  memory: {allocator_choice.memory_summary(memory)}"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
