"""Data-parallel training: two logical devices on this CPU follow the one-device trajectory."""

import json

import pytest

from cxr_gan.gan.config import PRESETS
from cxr_gan.gan.distribute import check_divisible
from tests.conftest import run_python, run_under_jax_without_tensorflow

# Trains the same tiny run on one device and data-parallel on two, prints both histories.
_COMPARE = """
    import dataclasses, json, sys
    from pathlib import Path
    import keras
    import numpy as np
    from cxr_gan.gan.train import make_run_config, train_gan
    from cxr_gan.checkpoints import list_checkpoints
    from tests.conftest import {preset}
    data, out = {data!r}, Path({out!r})
    histories = {{}}
    for parallel in (False, True):
        config = make_run_config(data, None, 3, checkpoint_every=1, data_parallel=parallel)
        config = dataclasses.replace(config, preset={preset})
        histories[str(parallel)] = train_gan(config, out / str(parallel), verbose=0).history
    saved = json.loads((out / 'True' / 'config.json').read_text())
    generator = keras.models.load_model(out / 'True' / 'generator.keras')
    layers = generator.get_config()['layers']
    synchronized = [l['config'].get('synchronized') for l in layers
                    if l['class_name'] == 'BatchNormalization']
    with np.load(list_checkpoints(out / 'True')[-1][1]) as ckpt:
        first = ckpt['v00000']
    print(json.dumps({{'histories': histories, 'replicas': saved['replicas'],
                      'synchronized': synchronized,
                      'saved_equals_checkpoint': bool(np.array_equal(
                          generator.weights[0].numpy() if hasattr(generator.weights[0], 'numpy')
                          else np.asarray(generator.weights[0]), first)),
                      'tensorflow_loaded': 'tensorflow' in sys.modules}}))
"""

_TWO_TF_CPUS = """
    import tensorflow as tf
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
"""

_METRICS = ("d_loss_real", "d_loss_fake", "g_loss", "d_acc_real", "d_acc_fake")


def _result(done):
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_same_trajectory(histories, rel):
    single, parallel = histories["False"], histories["True"]
    assert len(single) == len(parallel) == 3
    for one, two in zip(single, parallel):
        for name in _METRICS:
            assert two[name] == pytest.approx(one[name], rel=rel, abs=1e-6), (name, one, two)


def test_uneven_batches_are_refused_with_the_fix():
    check_divisible(PRESETS["paper"], 4)
    with pytest.raises(ValueError, match=r"divisible by 3.*multiple of 6"):
        check_divisible(PRESETS["paper"], 3)


@pytest.mark.slow
@pytest.mark.backends
def test_mirrored_strategy_on_two_cpu_devices_matches_one_device(tiny_phantoms, tmp_path):
    done = run_python(_TWO_TF_CPUS + _COMPARE.format(preset="TINY_PAPER", data=str(tiny_phantoms),
                                                     out=str(tmp_path)),
                      KERAS_BACKEND="tensorflow")
    result = _result(done)
    assert result["replicas"] == {"engine": "tf.distribute.MirroredStrategy",
                                  "devices": ["/device:CPU:0", "/device:CPU:1"]}
    # Same data per step, losses divided by the replica count, batch norm synchronized: the
    # two-device run differs from one device only by summation order.
    _assert_same_trajectory(result["histories"], rel=1e-4)
    # The saved generator is portable (no TensorFlow-only synchronized batch norm) and holds
    # the trained weights.
    assert result["synchronized"] and not any(result["synchronized"])
    assert result["saved_equals_checkpoint"]


@pytest.mark.slow
@pytest.mark.backends
def test_jax_data_parallel_on_two_cpu_devices_matches_one_device(tiny_phantoms, tmp_path):
    # The authors' design: dropout masks and draws with replacement, beside the TensorFlow
    # test's batch norm.
    done = run_under_jax_without_tensorflow(
        _COMPARE.format(preset="TINY_PAPER_CODE", data=str(tiny_phantoms), out=str(tmp_path)),
        XLA_FLAGS="--xla_force_host_platform_device_count=2")
    result = _result(done)
    assert result["replicas"] == {"engine": "keras.distribution.DataParallel",
                                  "devices": ["cpu:0", "cpu:1"]}
    assert not result["tensorflow_loaded"]
    # XLA partitions the one global computation; dropout masks included, the numbers match.
    _assert_same_trajectory(result["histories"], rel=1e-5)
    assert result["saved_equals_checkpoint"]
