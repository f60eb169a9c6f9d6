#!/usr/bin/env bash
# Times the README's main job with a fresh cache (the phantoms made, the FID weights converted):
#     bash benchmarks/time_main_job.sh /tmp/fresh_cache [runs/demo]
# Deletes the given cache folder and output folder first (never ~/.cache unless you pass it).
# demo.py prints each stage's time; this adds the whole command's, with the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export CXR_GAN_CACHE="${1:?give a cache folder to make fresh}"
out="${2:-runs/demo}"
rm -rf "$CXR_GAN_CACHE" "$out"
begin=$(date +%s.%N)
.venv/bin/python demo.py --out "$out" --verbose 2
echo "total $(echo "$(date +%s.%N) - $begin" | bc) s ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs) model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg) at the end)"
