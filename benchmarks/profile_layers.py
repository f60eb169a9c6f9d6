"""Where a training step's time goes: each layer's forward + backward pass timed on its own.

    python benchmarks/profile_layers.py --model paper --batch-size 16
    python benchmarks/profile_layers.py --model classifier --batch-size 32

For every layer of the model(s): a compiled function runs the layer forward on a random input
of its shape (training mode) and computes the gradients with respect to its input and its
weights; median of 5 calls after one warm-up. Matrix-product layers also get their achieved
GFLOP/s (3x the forward FLOPs of ``cxr_gan.gan.flops.layer_flops``; separable convolutions
are not counted). A full step runs some layers on several batches and skips some input
gradients, so the shares are a profile, not a decomposition of the step's time. Prints a
Markdown table; ``--json`` appends the rows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import append_records  # noqa: E402


def models(name: str):
    from cxr_gan.classifier.model import build_classifier
    from cxr_gan.gan.config import PRESETS
    from cxr_gan.gan.models import build_discriminator, build_generator

    if name == "classifier":
        return [build_classifier(224)]
    return [build_generator(PRESETS[name]), build_discriminator(PRESETS[name])]


def profile(model, batch: int) -> list[dict]:
    import tensorflow as tf

    from cxr_gan.gan.flops import layer_flops

    try:
        flops = {layer.name: layer.forward for layer in layer_flops(model)}
    except ValueError:  # Layers the counter does not know (separable convolutions).
        flops = {}
    rows = []
    for layer in model.layers[1:]:
        x = tf.random.uniform((batch, *layer.input.shape[1:]))

        @tf.function
        def forward_backward(x, layer=layer):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=True)
                loss = tf.reduce_sum(y * y)
            return tape.gradient(loss, [x, *layer.trainable_variables])

        forward_backward(x)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            forward_backward(x)[0].numpy()
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        gflop = 3 * flops.get(layer.name, 0) * batch / 1e9
        rows.append({"model": model.name, "layer": layer.name, "kind": type(layer).__name__,
                     "input_shape": list(x.shape), "seconds": seconds,
                     "gflops": gflop / seconds if gflop else None})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("paper", "paper-code", "demo", "classifier"),
                        default="paper")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--top", type=int, default=12, help="rows printed")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = [row for model in models(args.model) for row in profile(model, args.batch_size)]
    total = sum(row["seconds"] for row in rows)
    for row in rows:
        row.update(share=row["seconds"] / total, profiled=args.model, batch_size=args.batch_size)
    print(f"| layer ({args.model}, batch {args.batch_size}) | input | ms | share | GFLOP/s |")
    print("|---|---|---:|---:|---:|")
    for row in sorted(rows, key=lambda r: -r["seconds"])[: args.top]:
        rate = f"{row['gflops']:.0f}" if row["gflops"] else ""
        print(f"| {row['model']}/{row['layer']} | {'x'.join(map(str, row['input_shape'][1:]))} "
              f"| {1000 * row['seconds']:.1f} | {row['share']:.1%} | {rate} |")
    append_records(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
