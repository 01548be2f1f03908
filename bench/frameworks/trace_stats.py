"""Reading allocation traces in RMM's log format, and what a trace itself says.

A trace is a CSV file (plain, or gzip when the name ends in .gz) with the header
    Thread,Time,Action,Pointer,Size,Stream
and one row per `allocate` or `free` (RMM's `allocate failure` rows, for requests that
failed, are counted and skipped). Pointers only pair a free with its allocation; Stream
is 0 for the default stream, else any integer (decimal or 0x-hex).

Peak live is the largest sum of the sizes of the allocations live at once, counted in
trace order; it is what any allocator must hold at least, so it is the denominator of
every "held / live" ratio the framework scripts report.

Standard library only: the scripts that record traces on the GPU machine and the tests
on a machine without one both import it.

Run as a script, it prints the statistics of the traces given:
    python3 bench/frameworks/trace_stats.py traces/*.csv.gz [--json out.json]
"""

import argparse
import csv
import gzip
import json
import sys
from dataclasses import asdict, dataclass

HEADER = ["Thread", "Time", "Action", "Pointer", "Size", "Stream"]
MIB = 1024 * 1024


ALLOCATE, FREE, ALLOCATE_FAILURE = "allocate", "free", "allocate failure"


@dataclass(frozen=True)
class Event:
    action: str  # ALLOCATE, FREE or ALLOCATE_FAILURE (a request the allocator refused)
    pointer: int
    size: int
    stream: int

    @property
    def is_allocate(self):
        return self.action == ALLOCATE


@dataclass
class TraceStats:
    events: int = 0
    allocations: int = 0
    frees: int = 0
    peak_live_bytes: int = 0
    live_bytes_at_end: int = 0
    live_count_at_end: int = 0
    largest_allocation_bytes: int = 0
    streams: int = 0
    # Frees whose allocation the trace does not hold (recording started late); ignored.
    unmatched_frees: int = 0
    failed_allocations: int = 0


class TraceError(ValueError):
    """A trace that cannot be read; the message names the file and the row."""


def open_text(path, mode="rt"):
    """A text stream on `path`, through gzip when the name ends in .gz."""
    if str(path).endswith(".gz"):
        return gzip.open(path, mode, newline="", encoding="ascii")
    return open(path, mode, newline="", encoding="ascii")


def parse_integer(text):
    """An integer written in decimal or with a 0x prefix (RMM writes pointers in hex)."""
    return int(text, 0) if text.startswith(("0x", "0X")) else int(text)


def read_events(path):
    """Yields the trace's events in order; raises TraceError on a malformed row."""
    with open_text(path) as stream:
        rows = csv.reader(stream)
        header = next(rows, None)
        if header is None or [field.strip() for field in header] != HEADER:
            raise TraceError(
                f"{path}: the first line is {header!r}, not the RMM log header "
                f"{','.join(HEADER)}: is this an RMM-format trace?"
            )
        for line, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(row) != len(HEADER):
                raise TraceError(
                    f"{path}:{line}: {len(row)} fields, expected {len(HEADER)}: {row!r}"
                )
            action = row[2].strip()
            if action not in (ALLOCATE, FREE, ALLOCATE_FAILURE):
                raise TraceError(
                    f"{path}:{line}: action {action!r}; a trace holds only allocate, "
                    "allocate failure and free"
                )
            try:
                # A failed request has no pointer worth reading.
                pointer = 0 if action == ALLOCATE_FAILURE else parse_integer(row[3].strip())
                size = int(row[4].strip())
                stream_id = parse_integer(row[5].strip())
            except ValueError as error:
                raise TraceError(f"{path}:{line}: {error}: {row!r}") from None
            if size < 0:
                raise TraceError(f"{path}:{line}: negative size {size}")
            yield Event(action, pointer, size, stream_id)


def compute_stats(events):
    """The statistics of a sequence of events (see TraceStats)."""
    stats = TraceStats()
    live = {}
    live_bytes = 0
    streams = set()
    for event in events:
        if event.action == ALLOCATE_FAILURE:
            stats.failed_allocations += 1
            continue
        stats.events += 1
        streams.add(event.stream)
        if event.is_allocate:
            stats.allocations += 1
            if event.pointer in live:
                raise TraceError(
                    f"event {stats.events}: pointer {event.pointer:#x} allocated twice "
                    "without a free in between"
                )
            live[event.pointer] = event.size
            live_bytes += event.size
            stats.peak_live_bytes = max(stats.peak_live_bytes, live_bytes)
            stats.largest_allocation_bytes = max(stats.largest_allocation_bytes, event.size)
        else:
            stats.frees += 1
            size = live.pop(event.pointer, None)
            if size is None:
                stats.unmatched_frees += 1
            else:
                live_bytes -= size
    stats.live_bytes_at_end = live_bytes
    stats.live_count_at_end = len(live)
    stats.streams = len(streams)
    return stats


def trace_stats(path):
    return compute_stats(read_events(path))


def summary_line(path, stats):
    return (
        f"{path}: {stats.events:,} events ({stats.allocations:,} allocations, "
        f"{stats.frees:,} frees) on {stats.streams} stream(s); peak live "
        f"{stats.peak_live_bytes / MIB:,.0f} MiB; {stats.live_bytes_at_end / MIB:,.0f} MiB "
        f"in {stats.live_count_at_end:,} allocations live at the end"
        + (
            f"; {stats.unmatched_frees:,} frees without their allocation"
            if stats.unmatched_frees
            else ""
        )
        + (f"; {stats.failed_allocations:,} failed allocations" if stats.failed_allocations else "")
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description="Statistics of RMM-format allocation traces.")
    parser.add_argument("traces", nargs="+", help="trace files (.csv or .csv.gz)")
    parser.add_argument("--json", help="also write the statistics to this JSON file")
    args = parser.parse_args(argv)
    results = {}
    for path in args.traces:
        try:
            stats = trace_stats(path)
        except (OSError, TraceError) as error:
            print(f"trace_stats: {error}", file=sys.stderr)
            return 1
        results[path] = asdict(stats)
        print(summary_line(path, stats))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
