"""Converts a PyTorch memory snapshot into an allocation trace in RMM's log format.

A snapshot is what torch.cuda.memory._dump_snapshot(path) pickles after
torch.cuda.memory._record_memory_history(): a dict whose "device_traces" holds one list
per device of trace entries, each a dict with
    action   alloc, free_requested, free_completed, segment_alloc, segment_free,
             segment_map, segment_unmap, snapshot, oom or (newer versions) annotate
    addr     the block's address (an oom entry has device_free instead)
    size     the size the caller asked for (alloc and free_requested alike)
    stream   the cudaStream_t as an integer, 0 for the legacy default stream
    time_us  when the entry was recorded (absent in older versions)
    frames   the stack, and in newer versions compile_context and user_metadata.
The pickle holds only plain Python values, so no torch is needed to read it.

The trace keeps what the caller did, not what PyTorch's allocator did with it:
    alloc           -> allocate   (the size the caller asked for)
    free_requested  -> free       (the moment the caller freed it, in stream order)
Segment, free_completed, snapshot and oom entries say how PyTorch's allocator served the
requests, which a replay through another allocator must not copy; annotate entries only
label a live block. Time is time_us
relative to the first entry kept when every entry has one, else the entry's index
(as microseconds); Thread is 1 (a snapshot keeps no thread); Stream is 0 for the legacy
default stream, else the handle in hex.

The recording buffer is a ring (max_entries), and blocks allocated before the recording
started appear only as frees: such frees are dropped and counted, so every free in the
output pairs with an allocation in it.

Usage:
    python3 -m vmm_pmr.snapshot_to_trace snapshot.pickle trace.csv.gz [--device N]
The output is gzip-compressed when its name ends in .gz. Standard library only.
"""

import argparse
import gzip
import pickle
import sys
from dataclasses import dataclass

HEADER = "Thread,Time,Action,Pointer,Size,Stream"
ACTIONS = {"alloc": "allocate", "free_requested": "free"}


class SnapshotError(ValueError):
    """A snapshot that cannot be converted; the message says why and what to do."""


@dataclass
class Conversion:
    rows: list  # the trace's lines, header first
    device: int
    entries: int  # trace entries on that device, of every action
    dropped_frees: int  # frees of blocks allocated before the recording kept them
    live_at_end: int  # allocations never freed in the trace


def load_snapshot(path):
    with open(path, "rb") as stream:
        try:
            snapshot = pickle.load(stream)
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as error:
            raise SnapshotError(
                f"{path} is not a pickled memory snapshot ({error}); write one with "
                "torch.cuda.memory._dump_snapshot(path)"
            ) from None
    if not isinstance(snapshot, dict) or "device_traces" not in snapshot:
        raise SnapshotError(
            f"{path} holds no 'device_traces': record with "
            "torch.cuda.memory._record_memory_history() before _dump_snapshot()"
        )
    return snapshot


def choose_device(device_traces, device):
    """The device whose entries to convert: `device`, or the only one that has any."""
    if device is not None:
        if not 0 <= device < len(device_traces):
            raise SnapshotError(
                f"device {device} was asked for, but the snapshot has traces for devices "
                f"0 to {len(device_traces) - 1}"
            )
        return device
    recorded = [index for index, trace in enumerate(device_traces) if trace]
    if len(recorded) == 1:
        return recorded[0]
    if not recorded:
        raise SnapshotError(
            "the snapshot's device traces are all empty: was "
            "_record_memory_history(max_entries=...) called before the allocations?"
        )
    raise SnapshotError(f"devices {recorded} all have entries; choose one with --device")


def format_time(microseconds):
    """RMM's time column: hours, minutes, seconds and microseconds."""
    seconds, fraction = divmod(microseconds, 1_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{fraction:06d}"


def format_stream(stream):
    return "0" if stream == 0 else f"{stream:#x}"


def convert(snapshot, device=None):
    """The RMM-format rows of one device's allocations and frees (see Conversion)."""
    traces = snapshot["device_traces"]
    device = choose_device(traces, device)
    entries = traces[device]
    kept = [entry for entry in entries if entry.get("action") in ACTIONS]
    use_time = bool(kept) and all("time_us" in entry for entry in kept)
    origin = kept[0]["time_us"] if use_time else 0

    rows = [HEADER]
    live = {}
    dropped_frees = 0
    for index, entry in enumerate(kept):
        address = entry["addr"]
        size = entry["size"]
        if entry["action"] == "alloc":
            if address in live:
                raise SnapshotError(
                    f"entry {index}: address {address:#x} allocated again without a "
                    "free_requested in between: the snapshot is inconsistent"
                )
            live[address] = size
        elif live.pop(address, None) is None:
            dropped_frees += 1
            continue
        time = entry["time_us"] - origin if use_time else index
        rows.append(
            f"1,{format_time(time)},{ACTIONS[entry['action']]},{address:#x},{size},"
            f"{format_stream(entry['stream'])}"
        )
    return Conversion(rows, device, len(entries), dropped_frees, len(live))


def write_trace(rows, path):
    text = "\n".join(rows) + "\n"
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt", encoding="ascii", compresslevel=9) as out:
            out.write(text)
    else:
        with open(path, "w", encoding="ascii") as out:
            out.write(text)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Convert a torch.cuda.memory._dump_snapshot() pickle to an RMM-format trace."
    )
    parser.add_argument("snapshot", help="the pickle written by torch.cuda.memory._dump_snapshot")
    parser.add_argument("trace", help="the trace to write (.csv, or .csv.gz for gzip)")
    parser.add_argument(
        "--device", type=int, help="the device to convert (default: the only one recorded)"
    )
    args = parser.parse_args(argv)
    try:
        conversion = convert(load_snapshot(args.snapshot), args.device)
        write_trace(conversion.rows, args.trace)
    except (OSError, SnapshotError) as error:
        print(f"snapshot_to_trace: {error}", file=sys.stderr)
        return 1
    print(
        f"{args.trace}: {len(conversion.rows) - 1:,} events from device {conversion.device}'s "
        f"{conversion.entries:,} entries; {conversion.live_at_end:,} allocations live at the end"
        + (
            f"; {conversion.dropped_frees:,} frees dropped (their blocks were allocated "
            "before the recording kept them)"
            if conversion.dropped_frees
            else ""
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
