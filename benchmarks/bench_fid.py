"""Speed of the FID pieces on this machine, each against its usual alternative, in one run.

    python benchmarks/bench_fid.py [--torch-python /path/to/python-with-torch]

1. Fréchet distance at d = 2048 (covariances of 3000 random feature vectors): ours (two
   symmetric eigendecompositions) against ``scipy.linalg.sqrtm(S1 @ S2)`` as pytorch-fid does.
2. Feature extraction, images/s at batch 32 on 299x299 inputs: our Keras network (backend as
   set, oneDNN on) against the same TorchScript network under PyTorch on the CPU (run in the
   interpreter given by --torch-python, so PyTorch stays out of the project's requirements).
Medians of ``--repeats`` timed runs after one warm-up. Appends a Markdown section to
``benchmarks/RESULTS_fid.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


import numpy as np  # noqa: E402

from common import median_seconds  # noqa: E402

from cxr_gan.machine import cpu_description  # noqa: E402

TORCH_SNIPPET = r"""
import json, sys, time, statistics, torch
torch.set_num_threads(int(sys.argv[3]))
net = torch.jit.load(sys.argv[1]).eval()
x = torch.from_numpy(__import__('numpy').random.default_rng(0).uniform(-1, 1,
    (int(sys.argv[2]), 3, 299, 299)).astype('float32'))
times = []
with torch.no_grad():
    net(x)
    for _ in range(int(sys.argv[4])):
        t = time.perf_counter(); net(x); times.append(time.perf_counter() - t)
print(json.dumps({"median_s": statistics.median(times), "torch": torch.__version__}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--torch-python", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", default="benchmarks/RESULTS_fid.md")
    args = parser.parse_args()
    import keras
    import scipy
    import scipy.linalg

    from cxr_gan.fid.distances import frechet_distance, statistics as stats
    from cxr_gan.fid.features import FeatureExtractor
    from cxr_gan.fid.weights import find_weights

    rng = np.random.default_rng(0)
    mu1, s1 = stats(rng.standard_normal((3000, 2048)))
    mu2, s2 = stats(rng.standard_normal((3000, 2048)) * 1.1 + 0.1)

    def scipy_fid():
        root = scipy.linalg.sqrtm(s1 @ s2).real
        d = mu1 - mu2
        return d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(root)

    ours_s = median_seconds(lambda: frechet_distance(mu1, s1, mu2, s2), args.repeats, warmup=1)
    scipy_s = median_seconds(scipy_fid, args.repeats, warmup=1)
    agree = abs(frechet_distance(mu1, s1, mu2, s2) - scipy_fid()) / scipy_fid()

    extractor = FeatureExtractor()
    batch = rng.uniform(-1, 1, (args.batch, 299, 299, 3)).astype(np.float32)
    keras_s = median_seconds(lambda: extractor.from_arrays(batch), args.repeats, warmup=1)
    torch_result = None
    if args.torch_python:
        done = subprocess.run(
            [args.torch_python, "-c", TORCH_SNIPPET, str(find_weights()), str(args.batch),
             str(os.cpu_count()), str(args.repeats)],
            capture_output=True, text=True, check=True)
        torch_result = json.loads(done.stdout.strip().splitlines()[-1])
    lines = [
        f"## FID speed, {time.strftime('%Y-%m-%d')}",
        "",
        f"Command: `python benchmarks/bench_fid.py --torch-python PYTHON_WITH_TORCH`; machine: "
        f"{cpu_description()}; numpy {np.__version__}, scipy "
        f"{scipy.__version__}, keras {keras.__version__} ({keras.backend.backend()}). Medians of "
        f"{args.repeats} runs after a warm-up.",
        "",
        "| what | ours | alternative | speed-up |",
        "|---|---:|---:|---:|",
        f"| Fréchet distance, d = 2048 | {ours_s:.3f} s | {scipy_s:.3f} s (scipy sqrtm) | "
        f"{scipy_s / ours_s:.1f}x |",
    ]
    keras_rate = args.batch / keras_s
    if torch_result:
        torch_rate = args.batch / torch_result["median_s"]
        lines.append(f"| FID features, batch {args.batch}, images/s | {keras_rate:.1f} | "
                     f"{torch_rate:.1f} (TorchScript, torch {torch_result['torch']}) | "
                     f"{keras_rate / torch_rate:.2f}x |")
    else:
        lines.append(f"| FID features, batch {args.batch}, images/s | {keras_rate:.1f} | - | - |")
    lines += ["", f"Relative difference of the two Fréchet values: {agree:.2e}.", ""]
    text = "\n".join(lines) + "\n"
    with open(args.out, "a") as handle:
        handle.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
