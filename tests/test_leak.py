"""cxr_gan.classifier.leak: a generator that saw the classifier's test or validation images is
refused; one that did not is recorded with zero overlaps; unknown provenance is marked."""

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from cxr_gan.classifier.leak import GeneratorLeakError, check_generator_leak
from cxr_gan.classifier.train import ClassifierRunConfig, run_many
from cxr_gan.data import datasets
from cxr_gan.gan.generate import generate_pngs
from cxr_gan.gan.train import make_run_config, train_gan
from tests.conftest import TINY_PAPER

pytestmark = pytest.mark.slow  # Every test here needs the module's trained generators.


def _generator(data, out, split="official", validation_seeds=()):
    config = make_run_config(str(data), None, 1, split=split,
                             validation_seeds=validation_seeds)
    train_gan(dataclasses.replace(config, preset=TINY_PAPER), out, verbose=0)
    return out / "generator.keras"


@pytest.fixture(scope="module")
def generators(tiny_phantoms, tmp_path_factory):
    root = tmp_path_factory.mktemp("generators")
    return {
        "official-all": _generator(tiny_phantoms, root / "official-all"),
        "official-less-s0": _generator(tiny_phantoms, root / "official-less-s0",
                                       validation_seeds=(0,)),
        "pooled-less-s0": _generator(tiny_phantoms, root / "pooled-less-s0", split="pooled",
                                     validation_seeds=(0,)),
    }


def _check(data, generator=None, gan_images=None, split="official", seed=0, method="gan"):
    config = ClassifierRunConfig(data=str(data), synthetic=True, method=method, split=split,
                                 seed=seed, generator=generator and str(generator),
                                 gan_images=gan_images and str(gan_images))
    parts = datasets.split_records(datasets.scan(data), split, seed=0)
    return check_generator_leak(config, parts)


def test_a_generator_trained_on_another_split_is_refused(tiny_phantoms, generators):
    # Official train/NORMAL holds images of the pooled split's test set.
    parts = datasets.split_records(datasets.scan(tiny_phantoms), "pooled", seed=0)
    expected = sum(r.folder == "train" and r.label == "NORMAL" for r in parts["test"])
    assert expected > 0
    with pytest.raises(GeneratorLeakError,
                       match=f"learned from {expected} of this run.s {len(parts['test'])} test images.*"
                             "--split pooled --split-seed 0 --exclude-validation 0"):
        _check(tiny_phantoms, generators["official-all"], split="pooled")


def test_a_generator_that_kept_the_validation_share_is_refused_for_that_seed(tiny_phantoms,
                                                                            generators):
    with pytest.raises(GeneratorLeakError, match="learned from 0 of .* test images and 2 of"):
        _check(tiny_phantoms, generators["official-all"], seed=0)
    record = _check(tiny_phantoms, generators["official-less-s0"], seed=0)
    assert record["overlap_with_test"] == 0 and record["overlap_with_validation"] == 0
    assert record["split"] == "official" and record["training_images"] == 22
    assert record["compared_by"] == "content" and record["validation_seeds"] == [0]
    with pytest.raises(GeneratorLeakError, match="seed 1"):
        _check(tiny_phantoms, generators["official-less-s0"], seed=1)


def test_generated_images_carry_their_generators_provenance(tiny_phantoms, generators,
                                                            tmp_path):
    images = tmp_path / "images"
    generate_pngs(generators["pooled-less-s0"], 4, 0, images)
    provenance = json.loads((images / "provenance.json").read_text())
    assert provenance["split"] == "pooled" and provenance["seeds"] == {"0": 4}
    record = _check(tiny_phantoms, gan_images=images, split="pooled", seed=0)
    assert Path(record["images"]).resolve() == images.resolve() \
        and not Path(record["images"]).is_absolute() and record["overlap_with_test"] == 0
    learned = set(provenance["training_files"])
    assert any(path.startswith("test/") for path in learned)  # Official test images.
    with pytest.raises(GeneratorLeakError, match="split pooled train/NORMAL"):
        _check(tiny_phantoms, gan_images=images, split="official", seed=0)


def test_without_provenance_the_run_is_marked_unknown_with_a_warning(tiny_phantoms, generators,
                                                                     tmp_path, capsys):
    alone = tmp_path / "copied" / "generator.keras"
    alone.parent.mkdir()
    shutil.copy(generators["official-all"], alone)
    record = _check(tiny_phantoms, alone)
    assert record["split"] == "unknown" and record["overlap_with_test"] == "unknown"
    assert "WARNING: where the generator" in capsys.readouterr().err


def test_a_leaking_generator_is_refused_before_any_run_trains(tiny_phantoms, generators,
                                                              tmp_path):
    with pytest.raises(GeneratorLeakError):
        run_many(str(tiny_phantoms), ["none", "gan"], [0], str(tmp_path / "runs"),
                 generator=str(generators["official-all"]), split="pooled", epochs=1,
                 image_size=32, verbose=0)
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_a_classifier_run_records_its_generator(tiny_phantoms, generators, tmp_path):
    out = tmp_path / "run"
    run_many(str(tiny_phantoms), ["gan", "none"], [0], str(out),
             generator=str(generators["official-less-s0"]), epochs=1, image_size=32,
             verbose=0)
    gan = json.loads((out / "gan-s0" / "config.json").read_text())["generator"]
    assert gan["overlap_with_test"] == 0 and gan["run"].endswith("official-less-s0")
    # Recorded relative to the working directory: no machine's folders in a result file.
    assert not Path(gan["run"]).is_absolute() and not Path(gan["path"]).is_absolute()
    assert Path(gan["path"]).resolve() == (generators["official-less-s0"]).resolve()
    assert json.loads((out / "none-s0" / "config.json").read_text())["generator"] is None


@pytest.mark.slow
def test_a_duplicate_the_classifier_trains_on_anyway_is_reported_not_refused(tiny_phantoms,
                                                                              tmp_path):
    # Kermany holds byte-identical files across any split; a generator that learned one of
    # them adds nothing the classifier's own training images do not already hold.
    data = tmp_path / "data"
    shutil.copytree(tiny_phantoms, data)
    source = sorted((data / "train" / "NORMAL").iterdir())[0]
    shutil.copyfile(source, data / "test" / "NORMAL" / "zz-duplicate.png")
    generator = _generator(data, tmp_path / "gan", validation_seeds=(0,))
    parts = datasets.split_records(datasets.scan(data), "official", seed=0)
    held = datasets.validation_paths(parts["train"], [0])
    assert f"train/NORMAL/{source.name}" not in held  # The classifier trains on it.
    record = _check(data, generator, seed=0)
    assert record["overlap_with_test"] == 0 and record["shared_duplicates"] == 1


# -- the guard checks the images themselves (issue: reliability, third pass) -----------------
def _clean_folder(generators, tmp_path, count=30):
    images = tmp_path / "images"
    generate_pngs(generators["pooled-less-s0"], count, 0, images)
    return images


def test_a_test_image_copied_into_a_clean_folder_is_refused_by_its_pixels(tiny_phantoms,
                                                                          generators, tmp_path):
    from PIL import Image

    from cxr_gan.gan.generate import seal_folder

    images = _clean_folder(generators, tmp_path)
    assert _check(tiny_phantoms, gan_images=images, split="pooled")["gan_images_compared"] == 30
    parts = datasets.split_records(datasets.scan(tiny_phantoms), "pooled", seed=0)
    test_normal = [r.path for r in parts["test"] if r.label == "NORMAL"][:2]
    shutil.copyfile(tiny_phantoms / test_normal[0], images / "gen-s0-900000.png")
    # A re-encoded copy (other bytes, the same pixels: RGB, uncompressed) counts as well.
    copy = images / "gen-s0-900001.png"
    Image.open(tiny_phantoms / test_normal[1]).convert("RGB").save(copy, compress_level=0)
    assert copy.read_bytes() != (tiny_phantoms / test_normal[1]).read_bytes()
    seal_folder(images)  # Even with a provenance that records the changed folder.
    with pytest.raises(GeneratorLeakError, match="holds 2 of this run's test or validation "
                                                 "images .*gen-s0-900000.png = " + test_normal[0]):
        _check(tiny_phantoms, gan_images=images, split="pooled")


def test_generated_files_changed_after_generation_are_refused(tiny_phantoms, generators,
                                                              tmp_path):
    images = _clean_folder(generators, tmp_path)
    (images / "gen-s0-000003.png").write_bytes((images / "gen-s0-000004.png").read_bytes())
    with pytest.raises(GeneratorLeakError, match="changed since train_gan.py generate"):
        _check(tiny_phantoms, gan_images=images, split="pooled")


def test_an_edited_provenance_disagreeing_with_its_run_folder_is_refused(tiny_phantoms,
                                                                         generators, tmp_path):
    images = _clean_folder(generators, tmp_path)
    provenance = json.loads((images / "provenance.json").read_text())
    provenance.update(training_files=provenance["training_files"][:1], training_images=1)
    (images / "provenance.json").write_text(json.dumps(provenance))
    with pytest.raises(GeneratorLeakError, match="lists 1 training images; the generator's run "
                                                 "folder .* lists"):
        _check(tiny_phantoms, gan_images=images, split="pooled")
