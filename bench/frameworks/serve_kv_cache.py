"""A serving workload: requests of random prompt and output lengths generated token by
token, each with a KV cache per layer grown by torch.cat at every token, under PyTorch's
allocator or vmm_pmr's pool, timed and measured.

A small GPT (4 layers, d_model 1024, bf16 weights, greedy decoding) serves a queue of
requests whose prompt and output lengths come from a seeded RNG. At most --max-batch
requests are in flight; each iteration admits up to --admit-per-step queued requests
(prefill: the whole prompt at once), generates one token for every request in flight
(decode: one forward per request over its own cache) and retires the requests that
reached their output length, freeing their caches. The caches grow by one token per
layer per step, each growth a new tensor and the old one freed: the allocation pattern
of naive serving code.

    python3 bench/frameworks/serve_kv_cache.py --allocator native --json native.json
    python3 bench/frameworks/serve_kv_cache.py --allocator vmm_pmr --json vmm.json

JSON keys: workload, allocator, allocator_description, footprint_limit, seed, requests,
max_batch, admit_per_step, layers, d_model, device, torch_version, parameters;
iterations, tokens_generated, median_iteration_ms, p10_iteration_ms, p90_iteration_ms,
total_s (every iteration), ms_per_token (total_s over tokens_generated),
largest_cache_tokens, generated_checksum (sum of every generated token id: the same
across allocators unless bf16 arithmetic differs); peak_held_bytes, peak_live_bytes,
held_over_live, held_after_empty_cache_bytes, empty_cache_call, pool_stats (see
allocator_choice.py); vmm_pmr_conf.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import allocator_choice  # noqa: E402

HEADS = 16


@dataclass
class Request:
    prompt_length: int
    output_length: int
    caches: list = field(default_factory=list)
    generated: list = field(default_factory=list)  # [1, 1] token tensors, on the device


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=128, help="requests served (default 128)")
    parser.add_argument(
        "--max-batch", type=int, default=16, help="requests in flight at most (default 16)"
    )
    parser.add_argument(
        "--admit-per-step",
        type=int,
        default=2,
        help="requests admitted per iteration at most (default 2)",
    )
    parser.add_argument(
        "--prompt-lengths",
        type=int,
        nargs=2,
        default=[32, 1024],
        metavar=("MIN", "MAX"),
        help="prompt tokens, drawn uniformly (default 32 1024)",
    )
    parser.add_argument(
        "--output-lengths",
        type=int,
        nargs=2,
        default=[16, 512],
        metavar=("MIN", "MAX"),
        help="generated tokens, drawn uniformly (default 16 512)",
    )
    parser.add_argument("--layers", type=int, default=4, help="transformer layers (default 4)")
    parser.add_argument("--d-model", type=int, default=1024, help="model width (default 1024)")
    allocator_choice.add_arguments(parser)
    parser.add_argument(
        "--seed", type=int, default=0, help="seeds the lengths, the prompts and the weights"
    )
    parser.add_argument("--json", help="write the results to this JSON file")
    args = parser.parse_args(argv)
    allocator_choice.check_arguments(parser, args)
    for name in ("requests", "max_batch", "admit_per_step", "layers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}={getattr(args, name)}: at least 1")
    for name in ("prompt_lengths", "output_lengths"):
        low, high = getattr(args, name)
        if not 1 <= low <= high:
            parser.error(f"--{name.replace('_', '-')} {low} {high}: need 1 <= MIN <= MAX")
    if args.d_model % HEADS:
        parser.error(f"--d-model={args.d_model}: a multiple of the {HEADS} heads")
    return args


def draw_requests(args):
    rng = random.Random(args.seed)
    return [
        Request(rng.randint(*args.prompt_lengths), rng.randint(*args.output_lengths))
        for _ in range(args.requests)
    ]


def summarize(values):
    if len(values) < 2:
        return values[0], values[0], values[0]
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return statistics.median(values), deciles[0], deciles[-1]


def main(argv=None):
    args = parse_arguments(argv)
    allocator_choice.prepare_environment(args.allocator)

    import torch

    import gpt_model

    if not torch.cuda.is_available():
        raise SystemExit(
            "serve_kv_cache.py needs a CUDA device; torch.cuda.is_available() is False"
        )
    allocator = allocator_choice.Allocator(torch, args.allocator, args.footprint_limit)
    device = torch.device("cuda", torch.cuda.current_device())
    torch.manual_seed(args.seed)
    model = (
        gpt_model.GPT(args.layers, args.d_model, HEADS)
        .to(device=device, dtype=torch.bfloat16)
        .eval()
    )
    prompts = torch.Generator().manual_seed(args.seed)

    queue = draw_requests(args)
    queue.reverse()  # pop() serves them in the order drawn
    in_flight = []
    iteration_ms = []
    tokens_generated = 0
    largest_cache = 0

    with torch.inference_mode():
        checksum = torch.zeros((), dtype=torch.int64, device=device)
        while queue or in_flight:
            torch.cuda.synchronize()
            started = time.perf_counter()
            admitted = []
            while (
                queue
                and len(in_flight) + len(admitted) < args.max_batch
                and len(admitted) < args.admit_per_step
            ):
                request = queue.pop()
                prompt = gpt_model.counting_sequences(1, request.prompt_length, prompts).to(
                    device, non_blocking=True
                )
                request.caches = [gpt_model.KVCache() for _ in range(args.layers)]
                logits = model(prompt, request.caches)
                request.generated.append(logits[:, -1].argmax(dim=-1, keepdim=True))
                admitted.append(request)
            for request in in_flight:
                logits = model(request.generated[-1], request.caches)
                request.generated.append(logits[:, -1].argmax(dim=-1, keepdim=True))
            tokens_generated += len(in_flight) + len(admitted)
            in_flight.extend(admitted)
            largest_cache = max(
                [largest_cache] + [request.caches[0].tokens() for request in in_flight]
            )
            still_running = []
            for request in in_flight:
                if len(request.generated) >= request.output_length:
                    checksum += torch.cat(request.generated).sum()
                    request.caches.clear()
                    request.generated.clear()
                else:
                    still_running.append(request)
            in_flight = still_running
            torch.cuda.synchronize()
            iteration_ms.append((time.perf_counter() - started) * 1e3)
        del logits

    peak_held, peak_live = allocator.peaks()
    generated_checksum = int(checksum.item())
    del checksum
    held_after = allocator.held_after_empty_cache()
    memory = allocator_choice.memory_report(allocator, peak_held, peak_live, held_after)
    median, p10, p90 = summarize(iteration_ms)
    total_s = sum(iteration_ms) / 1e3
    results = {
        "workload": "serve_kv_cache",
        "allocator": args.allocator,
        "allocator_description": allocator.description(),
        "footprint_limit": args.footprint_limit,
        "seed": args.seed,
        "requests": args.requests,
        "max_batch": args.max_batch,
        "admit_per_step": args.admit_per_step,
        "layers": args.layers,
        "d_model": args.d_model,
        "device": torch.cuda.get_device_name(device),
        "torch_version": torch.__version__,
        "parameters": model.parameter_count(),
        "iterations": len(iteration_ms),
        "tokens_generated": tokens_generated,
        "median_iteration_ms": median,
        "p10_iteration_ms": p10,
        "p90_iteration_ms": p90,
        "total_s": total_s,
        "ms_per_token": total_s * 1e3 / tokens_generated,
        "largest_cache_tokens": largest_cache,
        "generated_checksum": generated_checksum,
        **memory,
        "vmm_pmr_conf": os.environ.get("VMM_PMR_CONF"),
    }
    print(
        f"serve_kv_cache: {allocator.description()}, {args.requests} requests, at most "
        f"{args.max_batch} in flight, on {results['device']}\n"
        f"  {len(iteration_ms):,} iterations: median {median:.2f} ms "
        f"(p10 {p10:.2f}, p90 {p90:.2f}); {tokens_generated:,} tokens in {total_s:.1f} s "
        f"({results['ms_per_token']:.3f} ms a token)\n"
        f"  memory: {allocator_choice.memory_summary(memory)}"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
