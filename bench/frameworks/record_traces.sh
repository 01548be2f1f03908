#!/usr/bin/env bash
# Records the two framework traces on a GPU through vmm_pmr's PyTorch plug-in: every
# allocate and free the pool serves goes to a file in RMM's log format
# (VMM_PMR_CONF=record=PATH), which is then compressed with gzip -9.
#
#   pytorch-gpt-train-side-stream.csv.gz   train_gpt.py --side-stream, 20 steps: the
#                                          training workload with its inputs prefetched
#                                          on a second stream
#   pytorch-kv-cache-serving.csv.gz        serve_kv_cache.py with fewer, shorter requests
#                                          than its defaults (each generated token is
#                                          about 180 events), to keep the file small
#
# Each run's own JSON report goes beside its trace, and trace_stats.py prints (and
# writes to trace-stats.json) each trace's event count and peak live.
#
#   bash bench/frameworks/record_traces.sh [FOLDER]     (default: traces)
#   PYTHON=python3.12                   the interpreter with torch and vmm_pmr
#   VMM_PMR_OPTIONS=footprint_limit=1.02   more pool options, appended to record=PATH
set -euo pipefail
cd "$(dirname "$0")/../.."
folder=${1:-traces}
python=${PYTHON:-python3}
scripts=bench/frameworks
mkdir -p "$folder"
folder=$(cd "$folder" && pwd)  # the pool opens the record file relative to nothing

if ! "$python" -c "import torch, vmm_pmr.torch" 2>/dev/null; then
  echo "record_traces.sh: '$python' cannot import torch and vmm_pmr.torch; install the" \
    "vmm_pmr Python package (or put it on PYTHONPATH) and run again" >&2
  exit 1
fi

# record NAME SCRIPT [ARGS...]: runs SCRIPT on the vmm_pmr pool, recording to NAME.csv.
record() {
  local name=$1 script=$2
  shift 2
  local trace="$folder/$name.csv"
  rm -f "$trace" "$trace.gz"
  VMM_PMR_CONF="record=$trace${VMM_PMR_OPTIONS:+,$VMM_PMR_OPTIONS}" \
    "$python" "$scripts/$script" --allocator vmm_pmr --json "$folder/$name.json" "$@"
  if [ ! -s "$trace" ]; then
    echo "record_traces.sh: $script ran but $trace is missing or empty: the pool did not" \
      "record (is VMM_PMR_CONF read by this build of the plug-in?)" >&2
    exit 1
  fi
  gzip -9 -f "$trace"
}

record pytorch-gpt-train-side-stream train_gpt.py --side-stream --steps 20 --timed-from 5
record pytorch-kv-cache-serving serve_kv_cache.py --requests 12 --max-batch 6 --output-lengths 16 256

"$python" "$scripts/trace_stats.py" --json "$folder/trace-stats.json" \
  "$folder/pytorch-gpt-train-side-stream.csv.gz" "$folder/pytorch-kv-cache-serving.csv.gz"
ls -l "$folder"/*.csv.gz
