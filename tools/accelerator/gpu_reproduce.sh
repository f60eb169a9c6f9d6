#!/usr/bin/env bash
# The accelerator run: the plan (tools/accelerator/gpu_plan.json, priority order) within one time cap,
# on a machine with JAX but no TensorFlow and no network. Prepared here by
#     python tools/accelerator/gpu_prepare.py --data ../shared/data/chest_xray
# then run there (device tool) as `bash tools/accelerator/gpu_reproduce.sh`, carry [".whl", ".devdata"].
# What comes back ($OUT: runs.tar.gz + image parts, <= 8 files of <= 16 MiB) is scored here by
#     python tools/accelerator/returned.py --returned FILES_AT --data ../shared/data/chest_xray --out results/gpu-RUN
# Env: PLAN (tools/accelerator/gpu_plan.json), TIME_CAP_S (the plan's: 540), OUT (results/gpu; $OUT there),
#      DATA (.devdata/chest_xray),
#      WORK (/tmp/cxr_gan_gpu: run folders, not returned), WHEELS (.whl: installed when present).
set -uo pipefail
cd "$(dirname "$0")/../.."
PLAN=${PLAN:-tools/accelerator/gpu_plan.json}
OUT=${OUT:-results/gpu}
WORK=${WORK:-/tmp/cxr_gan_gpu}
WHEELS=${WHEELS:-.whl}
rm -rf "$WORK" && mkdir -p "$WORK/stage" "$OUT"
if [ -d "$WHEELS" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
# The package is not installed there: the repository root is its import path.
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
{
  if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  else
    echo "no nvidia-smi: a CPU dry run"
  fi
  python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
} 2>&1 | tee "$WORK/stage/device.txt"
CAP=()
if [ -n "${TIME_CAP_S:-}" ]; then CAP=(--time-cap "$TIME_CAP_S"); fi
python3 tools/accelerator/gpu_run.py --plan "$PLAN" --data "${DATA:-.devdata/chest_xray}" --out "$OUT" \
  --work "$WORK" "${CAP[@]}"
