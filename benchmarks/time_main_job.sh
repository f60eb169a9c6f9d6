#!/usr/bin/env bash
# Times each step of the README's main job with a fresh cache:
#     bash benchmarks/time_main_job.sh /tmp/fresh_cache
# Deletes runs/demo and the given cache folder first (never ~/.cache unless you pass it).
set -euo pipefail
cd "$(dirname "$0")/.."
export CXR_GAN_CACHE="${1:?give a cache folder to make fresh}"
rm -rf "$CXR_GAN_CACHE" runs/demo
step() {
  local start end
  start=$(date +%s.%N); "$@" > /dev/null 2>&1; end=$(date +%s.%N)
  echo "$(echo "$end - $start" | bc) s: ${*:2:2}"
}
begin=$(date +%s.%N)
step .venv/bin/python train_gan.py --out runs/demo
step .venv/bin/python train_gan.py generate --generator runs/demo/generator.keras --num-images 400 --seed 0 --out runs/demo/generated
step .venv/bin/python evaluate.py fid --run runs/demo --fake runs/demo/generated --json runs/demo/fid.json
step .venv/bin/python train_classifier.py --augment none,flip,gan --gan-images runs/demo/generated --image-size 96 --epochs 6 --out runs/demo/classifier
step .venv/bin/python evaluate.py report --runs runs/demo/classifier --out runs/demo/report
echo "total $(echo "$(date +%s.%N) - $begin" | bc) s ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores)"
