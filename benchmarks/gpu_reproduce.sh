#!/usr/bin/env bash
# The accelerator run: the paper-code DCGAN for its 5000 generator updates (500 "epochs" of
# 10 steps) on one GPU under JAX, on a machine with no TensorFlow and no network.
#
# Prepare here (see README "GPU"):  .whl/ holds keras, namex, optree wheels for cp312, and
# .devdata/chest_xray holds train/NORMAL (+ one file per other class folder for the layout).
# Then run on the device with carry [".whl", ".devdata"]:
#     bash benchmarks/gpu_reproduce.sh
# Env: PRESET (paper-code), EPOCHS (500), TIME_CAP_S (430: then Ctrl-C semantics: the run
# stops after the step in flight and checkpoints), NUM_IMAGES (2534), OUT (results folder),
# MIXED_PRECISION (1: bfloat16 compute, float32 weights; compare its FID with a float32 run).
set -uo pipefail
PRESET=${PRESET:-paper-code}
EPOCHS=${EPOCHS:-500}
TIME_CAP_S=${TIME_CAP_S:-430}
NUM_IMAGES=${NUM_IMAGES:-2534}
OUT=${OUT:-results/gpu}
MIXED_PRECISION=${MIXED_PRECISION:-0}
EXTRA=()
if [ "$MIXED_PRECISION" = "1" ]; then EXTRA+=(--mixed-precision); fi
DATA=${DATA:-.devdata/chest_xray}
RUN=/tmp/cxr_gan_runs/$PRESET
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)" \
  | tee -a "$OUT/device.txt"
rm -rf "$RUN"
start=$(date +%s.%N)
# SIGINT after TIME_CAP_S: the trainer finishes the step in flight and saves a checkpoint.
timeout -s INT -k 60 "$TIME_CAP_S" python3 train_gan.py --data "$DATA" --preset "$PRESET" \
  --epochs "$EPOCHS" --checkpoint-every 100 --no-determinism --verbose 2 --out "$RUN" "${EXTRA[@]}" \
  2>&1 | grep -v "^I0000" | tee "$OUT/train_log.txt"
end=$(date +%s.%N)
python3 - "$start" "$end" "$RUN" "$OUT" <<'PY'
import csv, json, os, sys, statistics
start, end, run, out = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
history = f"{run}/history.csv"
rows = list(csv.DictReader(open(history))) if os.path.exists(history) else []
ckpts = sorted(os.listdir(f"{run}/checkpoints")) if os.path.isdir(f"{run}/checkpoints") else []
steps = sum(int(r["steps"]) for r in rows)
secs = [float(r["seconds"]) / int(r["steps"]) for r in rows[1:]]  # epoch 1 holds compilation
summary = {"wall_seconds_training_command": end - start, "epochs_completed": len(rows),
           "last_checkpoint": ckpts[-1] if ckpts else None,
           "generator_updates_in_completed_epochs": steps,
           "median_seconds_per_update_after_epoch_1": statistics.median(secs) if secs else None,
           "first_epoch_seconds_incl_compile": float(rows[0]["seconds"]) if rows else None}
json.dump(summary, open(f"{out}/timings.json", "w"), indent=2)
print(json.dumps(summary))
PY
python3 benchmarks/gpu_export.py "$RUN" "$OUT" --num-images "$NUM_IMAGES" --seed 0
ls -la "$OUT"
