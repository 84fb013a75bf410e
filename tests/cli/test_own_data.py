"""Your own data end to end: an image folder trains, and later commands find the data the run recorded."""

import gzip
import json
import shutil
import struct

import numpy as np
import pytest
from PIL import Image

import unidgm
from unidgm.cli import main
from unidgm.errors import DataError

TINY = ["model.hidden=[16]", "threads=1", "--no-progress"]


def run(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def shapes(tmp_path):
    """8x8 circles and squares in two class folders, 12 each."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:8, :8]
    for c in ("circle", "square"):
        (tmp_path / "shapes" / c).mkdir(parents=True)
        for i in range(12):
            r = int(rng.integers(2, 4))
            a = np.zeros((8, 8), np.uint8)
            if c == "square":
                a[4 - r:4 + r, 4 - r:4 + r] = 255
            else:
                a[(yy - 4) ** 2 + (xx - 4) ** 2 < r * r] = 255
            Image.fromarray(a).save(tmp_path / "shapes" / c / f"{i:02d}.png")
    return tmp_path / "shapes"


def test_image_folder_trains_and_eval_sample_need_no_data_flags(capsys, tmp_path, shapes):
    rc, out, err = run(capsys, "train", "vae", "--data", "images:shapes", "steps=4", *TINY, "--out", "runs/vae")
    assert rc == 0, err
    assert "exceeds the 22 examples" in err  # batch_size=64 on 22 training images: one batch of all of them
    config = json.loads((tmp_path / "runs" / "vae" / "config.json").read_text())
    assert config["data"] == f"images:{shapes}" and config["data_root"] is None  # recorded absolute
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    import os
    os.chdir(elsewhere)
    rc, out, err = run(capsys, "eval", "../runs/vae", "--metrics", "elbo")
    assert rc == 0, err
    assert json.loads((tmp_path / "runs" / "vae" / "metrics.json").read_text())["elbo"]["n_test"] == 2
    rc, out, err = run(capsys, "sample", "../runs/vae", "--n", "4")
    assert rc == 0 and (tmp_path / "runs" / "vae" / "samples" / "sample.png").is_file()
    assert len(unidgm.dataset(tmp_path / "runs" / "vae", "train")) == 22
    # the folder moves: the error names the recorded path and the flag; --data points at the new place
    shutil.move(shapes, tmp_path / "moved")
    rc, _, err = run(capsys, "eval", "../runs/vae", "--metrics", "elbo")
    assert rc == 2 and str(shapes) in err and "--data images:" in err
    rc, _, err = run(capsys, "eval", "../runs/vae", "--metrics", "elbo", "--data", "images:../moved")
    assert rc == 0, err
    rc, _, err = run(capsys, "train", "--resume", "../runs/vae", "steps=6", "--data", "images:../moved")
    assert rc == 0, err
    config = json.loads((tmp_path / "runs" / "vae" / "config.json").read_text())
    assert config["data"] == f"images:{tmp_path / 'moved'}"  # the new place is recorded
    rc, _, err = run(capsys, "train", "--resume", "../runs/vae", "steps=7", "--data", "digits")
    assert rc == 2 and "on other data" in err and "--force" in err


def test_conditional_model_records_class_names_for_sampling(capsys, tmp_path, shapes):
    rc, _, err = run(capsys, "train", "cgan", "--data", f"images:{shapes}", "steps=2", "batch_size=8", "threads=1",
                     "--no-progress", "--out", "c")
    assert rc == 0, err
    model = unidgm.load("c")
    assert model.classes == ["circle", "square"]
    rc, out, err = run(capsys, "sample", "c", "--n", "4", "--labels", "square,circle")
    assert rc == 0, err
    rc, _, err = run(capsys, "sample", "c", "--labels", "squar")
    assert rc == 2 and "Did you mean: square" in err


def _idx(path, arr):
    arr = np.asarray(arr, np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(struct.pack(">I", 0x0800 | arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
                                   + arr.tobytes()))


def fashion_root(root):
    rng = np.random.default_rng(0)
    for split, n, stem in (("train", 40, "train"), ("test", 20, "t10k")):
        _idx(root / "fashion-mnist" / f"{stem}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 6, 6)))
        _idx(root / "fashion-mnist" / f"{stem}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return root


def test_a_run_remembers_its_data_root(capsys, tmp_path, monkeypatch):
    fashion_root(tmp_path / "myroot")
    rc, _, err = run(capsys, "train", "vae", "--data", "fashion-mnist", "--data-root", "myroot", "steps=2",
                     "batch_size=8", *TINY, "--out", "f")
    assert rc == 0, err
    config = json.loads((tmp_path / "f" / "config.json").read_text())
    assert config["data_root"] == str(tmp_path / "myroot")  # relative flag, absolute record
    monkeypatch.chdir(tmp_path / "myroot")  # another folder, and $UNIDGM_DATA points elsewhere
    rc, _, err = run(capsys, "eval", "../f", "--metrics", "elbo")
    assert rc == 0, err
    assert unidgm.resume(tmp_path / "f", overrides=["steps=3"], progress=False).metrics
    shutil.move(tmp_path / "myroot", tmp_path / "newroot")
    rc, _, err = run(capsys, "eval", "../f", "--metrics", "elbo")
    assert rc == 2 and str(tmp_path / "myroot") in err and "--data-root" in err
    monkeypatch.chdir(tmp_path)
    rc, _, err = run(capsys, "eval", "f", "--metrics", "elbo", "--data-root", "newroot")  # explicit flag wins
    assert rc == 0, err
    with pytest.raises(DataError, match="recorded in its config.json"):
        unidgm.dataset("f")


def test_run_folders_from_before_the_root_was_recorded_still_load(capsys, tmp_path, monkeypatch):
    fashion_root(tmp_path / "data")  # $UNIDGM_DATA in the tests
    assert run(capsys, "train", "vae", "--data", "fashion", "steps=2", "batch_size=8", *TINY, "--out", "old")[0] == 0
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    del config["data_root"]
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    assert unidgm.load("old").settings.data_root is None
    rc, _, err = run(capsys, "eval", "old", "--metrics", "elbo")  # the default root, as before
    assert rc == 0, err


def test_every_single_domain_model_trains_on_an_image_folder(tmp_path, shapes):
    import unidgm.api
    from unidgm.registry import MODELS
    trained = []
    for name in MODELS.names():
        try:
            unidgm.fit(name, f"images:{shapes},channels=rgb", progress=False, out=tmp_path / name,
                         overrides={"steps": 1, "threads": 1, "batch_size": 8, "n_labelled": 10})
            trained.append(name)
        except unidgm.api.ConfigError as e:
            assert "needs a pair of domains" in str(e)  # ada and cyclegan take two domains
    assert set(MODELS.names()) - set(trained) == {"ada", "cyclegan"}
    assert unidgm.load(tmp_path / "cvae").x_shape == (3, 8, 8)


def test_classifier_scores_on_an_image_folder(capsys, tmp_path, shapes, monkeypatch):
    import unidgm.eval.classifier as classifier
    monkeypatch.setattr(classifier, "_MIN_STEPS", 40)  # a short classifier training keeps the test fast
    assert run(capsys, "train", "cgan", "--data", "images:shapes", "steps=2", "batch_size=8", "threads=1",
               "--no-progress", "--out", "c")[0] == 0
    rc, out, err = run(capsys, "eval", "c", "--n-samples", "40")
    assert rc == 0, err
    metrics = json.loads((tmp_path / "c" / "metrics.json").read_text())
    assert {"inception_score", "fid", "cond_accuracy", "classifier"} <= set(metrics)
    assert metrics["classifier"]["test_accuracy"] == 1.0  # circles vs squares: the 2 held-out images
    cached = list((tmp_path / "cache" / "classifiers").glob("images__*.json")) or \
        list((tmp_path / "data" / "classifiers").glob("*.json"))
    assert cached  # trained once on the folder's training split, then cached like MNIST's
    assert "class_coverage" not in metrics  # a conditional model's class balance is the labels it was given
    assert run(capsys, "train", "gan", "--data", "images:shapes", "steps=2", "batch_size=8", "threads=1",
               "--no-progress", "--out", "g")[0] == 0
    rc, out, err = run(capsys, "eval", "g", "--n-samples", "40")
    assert rc == 0, err
    coverage = json.loads((tmp_path / "g" / "metrics.json").read_text())["class_coverage"]
    assert coverage["num_modes"] == 2 and sum(coverage["counts"]) == 40 and "of 2 classes" in out
