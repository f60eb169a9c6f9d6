"""Generation (seeded PNGs, 8-bit mapping, the authors' stretch), the demo phantoms, and
train_gan.py train + generate end to end."""

import json

import numpy as np
import pytest
from PIL import Image

import train_gan
from cxr_gan.gan.config import PRESETS
from cxr_gan.data.phantoms import PhantomSpec, ensure_phantom_dataset
from cxr_gan.gan.generate import generate_uint8, generated_to_uint8, noise_for_indices
from cxr_gan.gan.models import build_generator
from cxr_gan.io import is_synthetic


def test_tanh_to_uint8_mapping():
    x = np.array([-1.0, -0.5, 0.0, 0.999, 1.0, 1.7]).reshape(1, 1, 6, 1).repeat(3, -1)
    np.testing.assert_array_equal(generated_to_uint8(x)[0, 0], [0, 64, 128, 255, 255, 255])
    stretched = generated_to_uint8(np.array([[[[-0.2], [0.0], [0.2]]]]), stretch=True)
    np.testing.assert_array_equal(stretched[0, 0], [0, 128, 255])


def test_image_i_depends_only_on_seed_and_i():
    generator = build_generator(PRESETS["demo"], seed=0)
    five = generate_uint8(generator, 5, seed=9, batch_size=2)
    tail = generate_uint8(generator, 2, seed=9, start=3)
    np.testing.assert_array_equal(five[3:], tail)
    assert five.shape == (5, 64, 64) and five.dtype == np.uint8
    np.testing.assert_array_equal(noise_for_indices(9, [3], 100)[0],
                                  np.random.default_rng([9, 3]).standard_normal(100, np.float32))


def test_phantoms_are_deterministic_and_imbalanced(tmp_path):
    spec = PhantomSpec(size=32, train_normal=6, train_pneumonia=17, val_normal=1,
                       val_pneumonia=1, test_normal=2, test_pneumonia=3)
    a = ensure_phantom_dataset(tmp_path / "a", spec)
    b = ensure_phantom_dataset(tmp_path / "b", spec)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*.png"))
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*.png"))
    assert len(files_a) == 30
    # Synthetic by the marker file in its root, from any folder inside, whatever the names.
    assert is_synthetic(a) and is_synthetic(a / "train" / "NORMAL")
    assert not is_synthetic(tmp_path)
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files_a)
    normal = np.asarray(Image.open(next((a / "train/NORMAL").iterdir())))
    assert normal.shape == (32, 32) and normal.std() > 10
    assert PhantomSpec().train_pneumonia / PhantomSpec().train_normal == pytest.approx(
        3875 / 1341, rel=0.01)


@pytest.mark.slow
def test_cli_trains_and_generates(tiny_phantoms, tmp_path, capsys):
    run_dir = tmp_path / "run"
    code = train_gan.main(["--data", str(tiny_phantoms), "--preset", "demo", "--epochs", "1",
                           "--batch-size", "8", "--out", str(run_dir), "--verbose", "0"])
    assert code == 0
    # 24 images less the classifier's seed-0 validation share (2: --exclude-validation's
    # default), // 8.
    assert "global step 2" in capsys.readouterr().out
    out_dir = tmp_path / "generated"
    code = train_gan.main(["generate", "--generator", str(run_dir / "generator.keras"),
                           "--num-images", "5", "--seed", "2", "--out", str(out_dir)])
    assert code == 0
    files = sorted(out_dir.glob("*.png"))
    assert [f.name for f in files] == [f"gen-s2-{i:06d}.png" for i in range(5)]
    provenance = json.loads((out_dir / "provenance.json").read_text())
    assert provenance["run"] == str(run_dir.resolve()) and provenance["seeds"] == {"2": 5}
    assert provenance["training_images"] == 22 and provenance["validation_seeds"] == [0]
    with Image.open(files[0]) as image:
        assert image.mode == "L" and image.size == (64, 64)


def test_generate_refuses_to_overwrite_and_a_missing_generator(tiny_phantoms, tmp_path):
    from cxr_gan.cli import UserError
    from cxr_gan.gan.generate import generate_pngs

    with pytest.raises(UserError, match="Generator not found: .*nothing.keras"):
        generate_pngs(tmp_path / "nothing.keras", 2, 0, tmp_path / "out")
    generator = build_generator(PRESETS["demo"], seed=0)
    generator.save(tmp_path / "g.keras")
    generate_pngs(tmp_path / "g.keras", 2, 0, tmp_path / "out")
    with pytest.raises(UserError, match="already holds generated images of seed 0"):
        generate_pngs(tmp_path / "g.keras", 2, 0, tmp_path / "out")
    assert len(generate_pngs(tmp_path / "g.keras", 2, 1, tmp_path / "out")) == 2  # Other seed.
