#!/usr/bin/env python3
r"""Train the paper's DCGAN on one class (Kermany: NORMAL), or generate images from a trained one.

    python train_gan.py --out runs/demo                       # embedded synthetic demo data
    python train_gan.py --data ~/chest_xray --preset paper-code --out runs/paper-code
    python train_gan.py --out runs/demo --resume              # continue a stopped run
    python train_gan.py generate --generator runs/demo/generator.keras \
        --num-images 2534 --seed 0 --out runs/demo/generated

Commands: train (the default when none is named), generate. The backend is Keras's:
KERAS_BACKEND=tensorflow (default) or KERAS_BACKEND=jax.
"""

from __future__ import annotations

import dataclasses
import sys

from cxr_gan import cli, flags
from cxr_gan.gan.config import DIFFAUGMENT_TRANSFORMS, LOSSES, PRESETS

cli.quiet_backend_logs()


def _parser():
    parser = flags.parser(__doc__)
    subs = flags.subparsers(parser)
    train = flags.command(subs, "train", "train a GAN (the default command)")
    flags.add(train, "--data", "--out", "--split", "--split-seed", "--seed", "--resize-filter",
              "--strict", "--cache-dir", "--verbose", "--debug", "--patient-pattern",
              "--train-size", "--cap",
              out="run directory (created; never overwritten: continue one with --resume)",
              split="split whose training images of --label the GAN learns",
              seed="seeds weights, noise and data order")
    train.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="architecture: 'paper' (the paper's text), 'paper-code' (the "
                            "authors' DCGAN.py), 'efficient' (128 px, a quarter of the widths, "
                            "DiffAugment + EMA: quality on a CPU), 'fastgan' (Liu et al. 2021: "
                            "SLE generator, self-supervised discriminator, 128 px), 'demo' "
                            "(64 px, small), "
                            "'phantoms' (demo tuned for the synthetic phantoms); default: "
                            "phantoms without --data, paper with it")
    train.add_argument("--label", default=None, metavar="CLASS",
                       help="the class the GAN learns (default: the smallest class of the "
                            "split's training part; Kermany: NORMAL, as the paper)")
    train.add_argument("--epochs", type=cli.positive_int, default=None, metavar="N",
                       help="epochs to train to (default: the preset's; an epoch is "
                            "floor(n_images / batch) generator updates)")
    train.add_argument("--batch-size", type=cli.at_least(2), default=None, metavar="N",
                       help="images per generator update, >= 2 (default: the preset's, 128 for "
                            "the paper presets); the discriminator's real and fake batches "
                            "scale with it (paper-code: half each)")
    train.add_argument("--exclude-validation", **flags.list_flag(
                           _validation_item, default=[0]), metavar="SEED",
                       help="leave out of the GAN's training images the classifier's validation "
                            "shares of these classifier seeds (spaces or commas; 'none': keep "
                            "every training image, as the paper), so that train_classifier.py "
                            "runs of those seeds may use the generator (its leak guard refuses "
                            "a generator that saw their validation or test images)")
    train.add_argument("--checkpoint-every", type=cli.positive_int, default=10, metavar="N",
                       help="epochs between checkpoints and sample figures")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its newest checkpoint "
                            "(--epochs may extend it; other options come from its config.json)")
    train.add_argument("--no-determinism", action="store_true",
                       help="allow non-deterministic (faster on GPU) kernels")
    train.add_argument("--data-parallel", action="store_true",
                       help="split each batch over every visible GPU (TensorFlow: "
                            "MirroredStrategy; JAX: keras.distribution.DataParallel); batch "
                            "sizes must divide evenly; see README 'Several GPUs'")
    train.add_argument("--mixed-precision", action="store_true",
                       help="compute in bfloat16 with float32 weights (GPUs with bf16, CPUs "
                            "with AVX512_BF16/AMX); see BENCHMARKS.md for its speed and FID")
    _add_gan_options(train)
    _add_generate(subs)
    return parser


def _add_generate(subs) -> None:
    generate = flags.command(subs, "generate", "write PNGs from a trained generator")
    generate.add_argument("--generator", required=True, metavar="FILE",
                          help="a generator.keras file")
    generate.add_argument("--num-images", type=cli.positive_int, required=True, metavar="N",
                          help="number of images")
    flags.add(generate, "--seed", "--out", "--debug",
              seed="image i comes from noise seeded with (seed, i)",
              out="folder for gen-sSEED-NNNNNN.png files (must hold none of them yet)")
    generate.add_argument("--paper-code-stretch", action="store_true",
                          help="stretch each image to its own min..max as the authors' code "
                               "did through imageio (off: (x+1)*127.5, clipped)")


def _add_gan_options(train) -> None:
    """Loss, regularisers, augmentation, EMA and quality tracking (README 'GAN options')."""
    train.add_argument("--loss", choices=tuple(LOSSES), default=None,
                       help="GAN loss (default: the preset's, nonsaturating); wgan-gp also sets "
                            "5 critic steps, Adam 1e-4 betas (0, 0.9), no BN in the critic")
    train.add_argument("--spectral-norm", action="store_true", default=None,
                       help="spectral normalisation of every discriminator layer with weights")
    train.add_argument("--r1", type=cli.non_negative_float, default=None, metavar="GAMMA",
                       help="R1 penalty gamma / 2 * E||grad D(x_real)||^2 (default: the "
                            "preset's, 0: none)")
    train.add_argument("--diffaugment", **flags.list_flag(
                           flags.one_of(DIFFAUGMENT_TRANSFORMS + ("none",)), default=None),
                       metavar="TRANSFORM",
                       help="DiffAugment transforms, spaces or commas: "
                            f"{', '.join(DIFFAUGMENT_TRANSFORMS)}; 'none' switches off the "
                            "preset's (default: the preset's)")
    train.add_argument("--ada-target", type=cli.between(-1.0, 1.0), default=None, metavar="T",
                       help="ADA: apply the --diffaugment transforms with a probability p that "
                            "steers E[sign(D(real))] toward T, ADA's 0.6 (default: off)")
    train.add_argument("--ema", type=cli.between(0.0, 1.0), default=None, metavar="DECAY",
                       help="exponential moving average of the generator's weights (e.g. "
                            "0.999); it samples, is scored and is saved as generator.keras "
                            "(default: the preset's; efficient 0.999, the others off)")
    train.add_argument("--lecam", type=cli.non_negative_float, default=None, metavar="WEIGHT",
                       help="LeCam regulariser (Tseng et al. 2021) on D's logits against moving "
                            "averages of its real and fake logits (default: the preset's, 0: "
                            "none)")
    train.add_argument("--reconstruction", type=cli.non_negative_float, default=None,
                       metavar="WEIGHT",
                       help="weight of FastGAN's self-supervised L1 reconstruction in D's loss "
                            "(fastgan preset only; default: the preset's, fastgan 1.0; 0: none, "
                            "and no decoders)")
    train.add_argument("--fid-every", type=cli.non_negative_int, default=0, metavar="N",
                       help="every N epochs (and at the last), FID-768 and KID of a fixed "
                            "generated set against the training images: history.csv, "
                            "figures/fid.png, generator_best.keras (0: never)")
    train.add_argument("--fid-images", type=cli.at_least(2), default=1000, metavar="N",
                       help="generated images each --fid-every evaluation uses")
    train.add_argument("--tensorboard", action="store_true",
                       help="write epoch metrics, FID, ADA's p and sample grids to "
                            "RUN/tensorboard (needs TensorFlow installed)")


def _gan_options(args) -> dict:
    policy = None
    if args.diffaugment is not None:
        policy = tuple(args.diffaugment)
        if "none" in policy and len(policy) > 1:
            raise cli.OptionError("--diffaugment none switches DiffAugment off; it cannot be "
                                  f"given with transforms ({', '.join(policy)}).")
        policy = () if policy == ("none",) else policy
    return {"loss": args.loss, "spectral_norm": args.spectral_norm, "r1_gamma": args.r1,
            "diffaugment": policy, "ada_target": args.ada_target, "ema_decay": args.ema,
            "reconstruction": args.reconstruction, "lecam": args.lecam}


# What --resume may be given with: the target, how often it checkpoints, scores and logs, and
# how it reports. Everything else comes from the run's config.json.
RESUME_FLAGS = {"out", "resume", "epochs", "checkpoint_every", "fid_every", "fid_images",
                "tensorboard", "verbose", "debug", "cache_dir", "strict", "command"}
# The run fields the other options set: with --resume such an option is accepted when its value
# equals the stored run's (the command that started the run, plus --resume), refused otherwise.
RESUME_COMPARED = {
    "data": lambda c: c.data, "preset": lambda c: c.preset.name, "split": lambda c: c.split,
    "split_seed": lambda c: c.split_seed, "seed": lambda c: c.seed,
    "resize_filter": lambda c: c.resize_filter, "batch_size": lambda c: c.preset.g_batch,
    "exclude_validation": lambda c: tuple(c.validation_seeds),
    "no_determinism": lambda c: not c.deterministic, "data_parallel": lambda c: c.data_parallel,
    "mixed_precision": lambda c: c.mixed_precision, "loss": lambda c: c.preset.options.loss,
    "spectral_norm": lambda c: c.preset.options.spectral_norm,
    "r1": lambda c: c.preset.options.r1_gamma,
    "diffaugment": lambda c: tuple(c.preset.options.diffaugment),
    "ada_target": lambda c: c.preset.options.ada_target,
    "ema": lambda c: c.preset.options.ema_decay,
    "reconstruction": lambda c: c.preset.options.reconstruction,
    "lecam": lambda c: c.preset.options.lecam,
    "label": lambda c: c.label, "patient_pattern": lambda c: c.patient_pattern,
    "train_size": lambda c: c.train_size, "cap": lambda c: tuple(c.class_caps),
}


def _validation_item(text: str):
    """One ``--exclude-validation`` value: a classifier seed, or ``none``."""
    return "none" if text.lower() == "none" else cli.non_negative_int(text)


def _validation_seeds(values: list) -> tuple[int, ...]:
    if "none" in values:
        if len(values) > 1:
            raise cli.OptionError("--exclude-validation takes classifier seeds such as 0 or "
                                  f"0,1,2, or 'none' alone. Received: {values}")
        return ()
    return tuple(values)


def _train(args, given: set[str]) -> int:
    from cxr_gan.gan.train import resume_config, summarize, train_gan

    if args.resume:
        _check_resume_options(args, given, resume_config(args.out, None))
        cadence = {name: getattr(args, name) for name in
                   ("checkpoint_every", "fid_every", "fid_images", "tensorboard") if name in given}
        config = dataclasses.replace(resume_config(args.out, args.epochs), **cadence)
        result = train_gan(config, args.out, resume=True, strict=args.strict,
                           verbose=flags.resolve_verbose(args.verbose), cache=args.cache_dir)
        print(summarize(result))
        return _status(result)
    config = _fresh_config(args)
    result = train_gan(config, args.out, strict=args.strict,
                       verbose=flags.resolve_verbose(args.verbose), cache=args.cache_dir)
    print(summarize(result))
    return _status(result)


def _fresh_config(args):
    from cxr_gan.gan.train import make_run_config

    return make_run_config(
        data=args.data, preset=args.preset, epochs=args.epochs, batch_size=args.batch_size,
        split=args.split, split_seed=args.split_seed, seed=args.seed,
        resize_filter=args.resize_filter, checkpoint_every=args.checkpoint_every,
        deterministic=not args.no_determinism, data_parallel=args.data_parallel,
        mixed_precision=args.mixed_precision, cache_dir=args.cache_dir,
        options=_gan_options(args), fid_every=args.fid_every, fid_images=args.fid_images,
        tensorboard=args.tensorboard, validation_seeds=_validation_seeds(args.exclude_validation),
        label=args.label, patient_pattern=args.patient_pattern, train_size=args.train_size,
        class_caps=cli.class_caps(args.cap),
    )


def _check_resume_options(args, given: set[str], stored) -> None:
    """Refuses, naming the flag and both values, an option that would change the stored run;
    accepts one equal to the stored value."""
    compared = sorted(given - RESUME_FLAGS)
    unknown = [name for name in compared if name not in RESUME_COMPARED]
    if unknown:
        raise cli.OptionError(f"--{unknown[0].replace('_', '-')} cannot be given with --resume.")
    if not compared:
        return
    asked = _fresh_config(args)
    for name in compared:
        wanted, held = RESUME_COMPARED[name](asked), RESUME_COMPARED[name](stored)
        if wanted != held:
            raise cli.OptionError(
                f"--resume continues the run with the options in {args.out}/config.json: "
                f"--{name.replace('_', '-')} is {held!r} there, {wanted!r} here. Leave it out "
                "or give the stored value (--epochs may extend a run; --checkpoint-every, "
                "--fid-every, --fid-images and --tensorboard may change), or start a new run "
                "with a new --out.")


def _status(result) -> int:
    """0 when finished; 128 + the signal when a signal stopped it (checkpoint saved)."""
    return cli.exit_status_of_signal(result.stop_signal) if result.interrupted else 0


def _generate(args) -> int:
    from cxr_gan.gan.generate import generate_pngs

    paths = generate_pngs(args.generator, args.num_images, args.seed, args.out,
                          stretch=args.paper_code_stretch)
    print(f"Wrote {len(paths)} images to {args.out}")
    return 0


def main(argv: list[str]) -> int:
    args = flags.parse_with_default_command(_parser(), argv, default="train")
    cli.load_backend()
    if args.command == "generate":
        return _generate(args)
    return _train(args, flags.given_options(_parser(), argv, default="train"))


if __name__ == "__main__":
    sys.exit(cli.run_script(main))
