#!/usr/bin/env bash
# The GPU checks of issue 12, on a machine with CUDA and no graph server, in one run:
#
#   1. benchmarks/pipeline.py --from-snapshot: featurise, block, train (kgn-align train's
#      default epochs), score and pair_model of dbp15k_fr_en on the GPU, from a snapshot that
#      a CPU run with a server saved (--snapshot-out); the JSON goes to OUT_DIR;
#   2. the unit tests with CUDA present, so that every test that trains or scores runs the
#      CUDA path (training.pick_device); their report goes to OUT_DIR.
#
# The snapshot, on a machine with a JVM (the pipeline starts a fresh ArcadeDB and loads the set):
#   PYTHONPATH=. python benchmarks/pipeline.py --kinds arcadedb --scales 1 --max-steps 2 \
#       --edges 200 --snapshot-out fr_en.snapshot --out /tmp/cpu_run.json && gzip fr_en.snapshot
#
# Usage: benchmarks/gpu.sh SNAPSHOT[.gz] OUT_DIR [WHEEL_DIR]
# WHEEL_DIR: wheels of the Python packages the machine lacks (pydantic, neo4j, ...),
# installed into a temporary folder first. Each part runs even if the other fails; the exit
# status is the first failure's.
set -u
snapshot=${1:?usage: benchmarks/gpu.sh SNAPSHOT OUT_DIR [WHEEL_DIR]}
out=${2:?usage: benchmarks/gpu.sh SNAPSHOT OUT_DIR [WHEEL_DIR]}
wheels=${3:-}
mkdir -p "$out"
if [ -n "$wheels" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/kgn-site "$wheels"/*.whl || exit 1
    export PYTHONPATH=/tmp/kgn-site:.
else
    export PYTHONPATH=.
fi
export PYTHONUNBUFFERED=1
case "$snapshot" in  # carried gzipped: 54 MB -> 11 MB for dbp15k_fr_en
    *.gz) gunzip -c "$snapshot" > /tmp/kgn-snapshot && snapshot=/tmp/kgn-snapshot ;;
esac
status=0
nvidia-smi --query-gpu=name,memory.total,clocks.sm,driver_version --format=csv | tee "$out/nvidia-smi.csv"
python3 -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available())'
timeout 300 python3 benchmarks/pipeline.py --from-snapshot "$snapshot" --out "$out/pipeline_gpu.json" \
    --profile "$out/pair_model_profile.txt" \
    2> "$out/pipeline_gpu.log" > /dev/null || { status=$?; tail -30 "$out/pipeline_gpu.log"; }
python3 - "$out/pipeline_gpu.json" <<'EOF' || true
import json, sys
run = json.load(open(sys.argv[1]))["runs"][0]
print(run["device"], run.get("cuda"), run["train_settings"])
for stage, m in run["stages"].items():
    print(f"{stage:11s} wall {m['wall_s']:8.2f} s  cpu {m['client_cpu_s']:7.1f} s  "
          f"{m.get('pairs_per_s') or m.get('entities_per_s') or '':>12}  gpu {m.get('gpu_peak_memory_mb')} MB")
print("pair_model pairs/s by batch:", run.get("pair_model_by_batch"))
print(json.dumps(run.get("composed_end_to_end"), indent=1))
EOF
timeout 200 python3 -m pytest tests/unit -p no:cacheprovider -n 8 -rf -v --timeout 120 \
    > "$out/unit.log" 2>&1 || { [ $status -ne 0 ] || status=1; }
grep -E "^(FAILED|ERROR)|passed|failed" "$out/unit.log" | tail -40
exit $status
