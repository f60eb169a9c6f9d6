"""Shared test settings: quiet TensorFlow, the real data set's path, tiny presets."""

import dataclasses
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import pytest  # noqa: E402

from cxr_gan.gan.config import PRESETS  # noqa: E402
from cxr_gan.data.phantoms import PhantomSpec, ensure_phantom_dataset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("CXR_GAN_REAL_DATA", REPO.parent / "shared" / "data" / "chest_xray"))

# A 16x16 version of the paper's design: every code path of the 'paper' style, in milliseconds.
TINY_PAPER = dataclasses.replace(
    PRESETS["demo"], name="tiny-paper", image_size=16, g_base=(2, 2, 16), g_filters=(8, 8),
    d_filters=(8, 8, 16, 16), real_batch=8, fake_batch=8, g_batch=8, epochs=2,
)
# And of the authors' code: LeakyReLU, no BN, dropout, draws with replacement, 4+4 / 8 batches.
TINY_PAPER_CODE = dataclasses.replace(
    PRESETS["paper-code"], name="tiny-paper-code", image_size=16, g_base=(2, 2, 16),
    g_filters=(8, 8, 8), d_filters=(8, 8, 8, 16), real_batch=4, fake_batch=4, g_batch=8, epochs=2,
)


@pytest.fixture(autouse=True)
def _quick_tests_neither_train_nor_spawn(request, monkeypatch):
    """A test that trains a model or starts a process must carry ``@pytest.mark.slow``, so
    that ``pytest -m "not slow"`` stays quick: unmarked, such a test fails here and says so."""
    if request.node.get_closest_marker("slow"):
        return
    import subprocess

    import keras
    from joblib.externals.loky.backend.context import _count_physical_cores

    # scikit-learn's joblib counts physical cores with a process once, then caches the count:
    # counted here, before the guard, a quick test's neighbour search starts none.
    _count_physical_cores()

    def refuse(what):
        def guard(*args, **kwargs):
            raise AssertionError(f"{request.node.nodeid} {what}: mark it @pytest.mark.slow")
        return guard

    monkeypatch.setattr(keras.Model, "fit", refuse("trains a model (Model.fit)"))
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("starts a process"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not (REAL_DATA / "train" / "NORMAL").is_dir():
        pytest.skip(f"real Kermany data not found at {REAL_DATA}")
    return REAL_DATA


@pytest.fixture(scope="session")
def tiny_phantoms(tmp_path_factory) -> Path:
    """A small phantom data set (24 train NORMAL) shared by the training tests."""
    spec = PhantomSpec(seed=3, size=32, train_normal=24, train_pneumonia=30, val_normal=2,
                       val_pneumonia=2, test_normal=4, test_pneumonia=6)
    return ensure_phantom_dataset(tmp_path_factory.mktemp("cache"), spec)


def copy_back_to_first_checkpoint(run_dir, copy_dir) -> None:
    """Copies a finished run and keeps only its oldest checkpoint: resuming the copy must give
    the run's newest checkpoint bit for bit (one training run fewer than a second short run,
    since a checkpoint holds the history and state up to its step)."""
    import shutil

    from cxr_gan.checkpoints import list_checkpoints

    shutil.copytree(run_dir, copy_dir)
    for _, path in list_checkpoints(copy_dir)[1:]:
        path.unlink()


def assert_same_newest_checkpoint(run_a, run_b) -> None:
    """Every array of the two runs' newest checkpoints is bitwise equal (the header, which
    holds times and paths, aside): what a resumed run must share with an uninterrupted one."""
    import numpy as np

    from cxr_gan.checkpoints import list_checkpoints

    a = np.load(list_checkpoints(run_a)[-1][1])
    b = np.load(list_checkpoints(run_b)[-1][1])
    assert a.files == b.files
    for key in a.files:
        if key != "header":
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# XLA's persistent cache, shared by the JAX processes of one test session: the tiny models of
# several tests (and a run and its resumed twin) compile the same programs.
JAX_COMPILATION_CACHE = {
    "JAX_COMPILATION_CACHE_DIR": os.environ.get(
        "CXR_GAN_JAX_CACHE", str(Path(tempfile.gettempdir()) / f"cxr-gan-jax-cache-{os.getuid()}")),
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0.5",
}


def run_python(body: str, **env_overrides: str):
    """Runs ``body`` (Python source) in a fresh process from the repository root, with the
    given environment variables set; returns the CompletedProcess."""
    import subprocess
    import sys
    import textwrap

    env = {**os.environ, "PYTHONPATH": str(REPO), **env_overrides}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)], cwd=REPO,
                          capture_output=True, text=True, env=env)


def run_under_jax_without_tensorflow(body: str, **env_overrides: str):
    """Runs ``body`` (Python source) in a fresh process with KERAS_BACKEND=jax and TensorFlow
    made unimportable, as on the accelerator machine; returns the CompletedProcess."""
    import textwrap

    prelude = textwrap.dedent("""
        import sys
        class NoTensorFlow:
            def find_spec(self, name, path=None, target=None):
                if name == 'tensorflow' or name.startswith('tensorflow.'):
                    raise ImportError('TensorFlow is absent on the accelerator machine')
        sys.meta_path.insert(0, NoTensorFlow())
    """)
    return run_python(prelude + textwrap.dedent(body), KERAS_BACKEND="jax",
                      **{**JAX_COMPILATION_CACHE, **env_overrides})
