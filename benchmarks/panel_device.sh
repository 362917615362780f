#!/usr/bin/env bash
# The reference panel and the harness's GPU figures in one call on a lent GPU machine, within a deadline.
#
#   bash benchmarks/panel_device.sh OUT [SIZE] [SWEEP_UNTIL_S] [WORKERS] [SEEDS] [EPOCHS]
#
# Generates the suite at SIZE (all cores), sweeps the panel (benchmarks/panel_sweep.py: seed-major,
# longest first, killed SWEEP_UNTIL_S seconds after this script began), writes the baseline table
# of what finished, then runs benchmarks/harness_overhead.py and benchmarks/gpu_feed.py. nvidia-smi
# samples GPU utilisation every 100 ms throughout (gpu.csv). Everything lands in OUT (8 files).
# RESUME=DIR carries finished runs from an earlier call; SKIP_HARNESS=1 leaves out the two benchmarks;
# ARCHS=A,B and PROTOCOLS=P,Q sweep only those networks and protocols (the runs a table still
# lacks) instead of the whole panel on every protocol.
# Carried wheels (.whl/, see the device notes) install into a folder whose path holds
# "site-packages": dill pickles modules from any other path by value, and fails on pyarrow's
# MonthDayNano while `datasets` fingerprints a dataset.
set -u
OUT=${1:?usage: panel_device.sh OUT [SIZE] [SWEEP_UNTIL_S] [WORKERS] [SEEDS] [EPOCHS]}
SIZE=${2:-small}
UNTIL=${3:-330}
WORKERS=${4:-12}
SEEDS=${5:-0,1,2}
EPOCHS=${6:-}
PY=${PYTHON:-python3}
ARCHS=${ARCHS:-cnn-flatten,cnn-gap,resnet-small,vit-tiny,mixer-tiny,gcnn-c4,mlp,shape-descriptors,redgreen-valid,redgreen-same,redgreen-full,redgreen-circular}
BEGAN=$(date +%s)
WORK=${WORK:-/tmp/elsewhere-panel}
SITE=$WORK/env/site-packages
DATA=$WORK/data
RUNS=$WORK/runs
mkdir -p "$OUT" "$SITE"
exec > >(tee -a "$OUT/log.txt") 2>&1
stamp() { echo "== $(date -u +%H:%M:%S) +$(($(date +%s) - BEGAN))s $*"; }

if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits -lms 100 >"$OUT/gpu.csv" &
  SMI=$!
  trap 'kill $SMI 2>/dev/null' EXIT
fi
stamp install
WHEELS=${WHEELS:-.whl}  # WHEELS=none: use the packages already installed
if compgen -G "$WHEELS/*.whl" >/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl || exit 1
fi
# The package as pip lays it out: the stage folders inside elsewhere/.
rm -rf "$SITE/elsewhere" && cp -r elsewhere "$SITE/elsewhere" || exit 1
for stage in generator splits evaluation leaderboard; do cp -r "$stage" "$SITE/elsewhere/$stage" || exit 1; done
export PYTHONSAFEPATH=1 PYTHONPATH=$SITE HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HOME=$WORK/hf PYTHONUNBUFFERED=1 HF_DATASETS_DISABLE_PROGRESS_BARS=1
nvidia-smi -L 2>/dev/null | tee "$OUT/env.txt"
nproc | tee -a "$OUT/env.txt"
# Versions, and the fingerprinting that failed once with carried wheels: stop at once if it fails.
$PY -c '
import sys, torch, datasets, pyarrow, dill, numpy, pandas, huggingface_hub
print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available(), "datasets", datasets.__version__,
      "pyarrow", pyarrow.__version__, "dill", dill.__version__, "numpy", numpy.__version__, "pandas", pandas.__version__,
      "huggingface_hub", huggingface_hub.__version__)
print("fingerprint", datasets.Dataset.from_dict({"a": [1, 2]}).select([0])._fingerprint)
import elsewhere.evaluation.harness
' 2>&1 | tee -a "$OUT/env.txt"
[ "${PIPESTATUS[0]}" = 0 ] || exit 1
ELSEWHERE="$PY -c 'import sys; from elsewhere.cli import main; sys.exit(main())'"

stamp generate
rm -rf "$DATA"
eval "$ELSEWHERE generate --out $DATA --size $SIZE --quiet" || exit 1

stamp sweep
# RESUME=DIR: runs finished by an earlier call (their results.json), skipped by the sweep.
if [ -n "${RESUME:-}" ]; then mkdir -p "$RUNS" && cp -r "$RESUME"/. "$RUNS"/ || exit 1; fi
LEFT=$((UNTIL - ($(date +%s) - BEGAN)))
PROTOCOLS=${PROTOCOLS:-$($PY -c 'from elsewhere.splits.registry import protocol_names; print(",".join(protocol_names()))')}
SWEEP=(--data "$DATA" --runs "$RUNS" --archs "$ARCHS" --protocols "$PROTOCOLS" --seeds "$SEEDS")
timeout -k 5 "$LEFT" $PY benchmarks/panel_sweep.py "${SWEEP[@]}" --workers "$WORKERS" --device auto ${EPOCHS:+--epochs $EPOCHS} >"$OUT/sweep.txt" 2>&1
echo "sweep exit $? (124: stopped at its deadline)"
tail -3 "$OUT/sweep.txt"
$PY benchmarks/panel_sweep.py "${SWEEP[@]}" --table-only --out "$OUT/panel.json"
(cd "$RUNS" && find . -name results.json -o -name history.json | tar czf "$OUT/runs.tar.gz" -T -)

[ -n "${SKIP_HARNESS:-}" ] && { stamp done; exit 0; }
stamp harness
$PY benchmarks/harness_overhead.py --data "$DATA" --repeats 3 2>&1 | tee "$OUT/harness.txt"
if $PY -c 'import torch, sys; sys.exit(not torch.cuda.is_available())'; then
  stamp gpu-feed
  $PY benchmarks/gpu_feed.py --data "$DATA" --seconds 6 2>&1 | tee -a "$OUT/harness.txt"
fi
stamp done
exit 0
