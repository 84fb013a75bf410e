"""Image folders (`images:<dir>`): layouts, options, held-out test split, and the errors that name the file."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unidgm.data import get_dataset
from unidgm.data.images import held_out, parse_spec
from unidgm.data.registry import absolute_spec, needs_root, spec_path
from unidgm.errors import DataError


def save(path: Path, arr, mode=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(arr), mode).save(path)
    return path


def labelled(root: Path, classes=("b_square", "a_circle"), n=10, hw=(6, 4)) -> Path:
    """Class folders whose pixel values encode (class, index): value = 10 * class_rank + index."""
    for rank, c in enumerate(sorted(classes)):
        for i in range(n):
            save(root / c / f"{i:02d}.png", np.full(hw, 10 * rank + i, np.uint8))
    return root


def test_class_folders_become_sorted_labels_and_a_fixed_stratified_test_split(tmp_path):
    root = labelled(tmp_path / "imgs")
    train, test = get_dataset(f"images:{root}"), get_dataset(f"images:{root}", "test")
    assert train.classes == test.classes == ("a_circle", "b_square") and train.num_classes == 2
    assert train.x.shape == (18, 1, 6, 4) and test.x.shape == (2, 1, 6, 4)
    assert sorted(test.y.tolist()) == [0, 1]  # 10% of each class, at least one
    # labels follow the sorted folder names: pixel value // 10 is the class rank
    for ds in (train, test):
        assert torch.equal((ds.x[:, 0, 0, 0] * 255).round().long() // 10, ds.y)
    values = sorted((torch.cat([train.x, test.x])[:, 0, 0, 0] * 255).round().long().tolist())
    assert values == list(range(10)) + list(range(10, 20))  # disjoint, and together the whole folder
    again = get_dataset(f"images:{root}", "test", seed=7)  # the experiment seed does not move the split
    assert torch.equal(again.x, test.x)
    bigger = get_dataset(f"images:{root},test=0.5", "test")
    assert len(bigger) == 10 and sorted(bigger.y.tolist()) == [0] * 5 + [1] * 5
    assert torch.equal(train.x[0, 0], torch.full((6, 4), train.x[0, 0, 0, 0].item()))  # uint8/255 exactly


def test_flat_folder_is_unlabelled(tmp_path):
    for i in range(5):
        save(tmp_path / "flat" / f"{i}.jpg", np.full((4, 4, 3), 40 * i, np.uint8))
    (tmp_path / "flat" / "notes.txt").write_text("not an image")  # other files are ignored
    ds = get_dataset(f"images:{tmp_path / 'flat'}")
    assert ds.y is None and ds.num_classes is None and ds.classes is None
    assert ds.x.shape == (4, 3, 4, 4)  # one of five held out; JPEG keeps its three channels


def test_train_and_test_folders_are_the_splits_and_test_labels_map_by_name(tmp_path):
    root = tmp_path / "set"
    labelled(root / "train", classes=("cat", "dog", "emu"), n=3)
    save(root / "test" / "emu" / "x.png", np.full((6, 4), 7, np.uint8))
    train, test = get_dataset(f"images:{root}"), get_dataset(f"images:{root}", "test")
    assert len(train) == 9 and train.classes == ("cat", "dog", "emu")
    assert test.y.tolist() == [2] and test.classes == train.classes  # emu is class 2 as in train/
    with pytest.raises(DataError, match="own train/ and test/ folders.*drop the test= option"):
        get_dataset(f"images:{root},test=0.2")
    save(root / "test" / "yak" / "y.png", np.zeros((6, 4), np.uint8))
    with pytest.raises(DataError, match="test/ has class folder\\(s\\) yak that train/ lacks"):
        get_dataset(f"images:{root}", "test")
    only = labelled(tmp_path / "only" / "train", n=2).parent
    with pytest.raises(DataError, match="has a train/ folder but no test/ folder"):
        get_dataset(f"images:{only}", "test")


def test_resize_centre_crop_and_stretch(tmp_path):
    cols = np.array([[0, 100, 200, 250]] * 2, np.uint8)  # 2 high, 4 wide: the centre 2x2 is columns 1..2
    save(tmp_path / "w" / "a.png", cols)
    save(tmp_path / "w" / "b.png", np.zeros((8, 8), np.uint8))  # another size: fine once size= is given
    ds = get_dataset(f"images:{tmp_path / 'w'},size=2,test=0")
    assert ds.x.shape == (2, 1, 2, 2)
    assert (ds.x[0, 0] * 255).round().tolist() == [[100, 200], [100, 200]]  # scale 1, centre cut
    stretched = get_dataset(f"images:{tmp_path / 'w'},size=2,crop=none,test=0")
    assert stretched.x.shape == (2, 1, 2, 2) and not torch.equal(stretched.x[0], ds.x[0])
    rect = get_dataset(f"images:{tmp_path / 'w'},size=3x5,test=0")
    assert rect.x.shape == (2, 1, 3, 5)  # H x W


def test_grayscale_and_rgb_conversion(tmp_path):
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255
    for i in range(3):
        save(tmp_path / "c" / f"{i}.png", red)
    rgb = get_dataset(f"images:{tmp_path / 'c'},test=0")
    assert rgb.x.shape == (3, 3, 4, 4) and rgb.x[0, :, 0, 0].tolist() == [1.0, 0.0, 0.0]
    gray = get_dataset(f"images:{tmp_path / 'c'},channels=gray,test=0")
    assert gray.x.shape == (3, 1, 4, 4)
    assert round(float(gray.x[0, 0, 0, 0]) * 255) == 76  # ITU-R 601: L = 0.299 R
    for i in range(3):
        save(tmp_path / "g" / f"{i}.png", np.full((4, 4), 128, np.uint8))
    up = get_dataset(f"images:{tmp_path / 'g'},channels=rgb,test=0")
    assert up.x.shape == (3, 3, 4, 4) and torch.allclose(up.x, torch.full_like(up.x, 128 / 255))
    deep = tmp_path / "d"
    deep.mkdir()
    Image.fromarray(np.full((4, 4), 65535, np.uint16)).save(deep / "a.png")  # a 16-bit PNG
    Image.fromarray(np.full((4, 4), 0, np.uint16)).save(deep / "b.png")
    d = get_dataset(f"images:{deep},test=0")
    assert d.x.shape == (2, 1, 4, 4) and sorted(d.x[:, 0, 0, 0].tolist()) == [0.0, 1.0]


def test_corrupt_empty_and_mixed_size_folders_are_named(tmp_path):
    root = labelled(tmp_path / "bad", n=3)
    broken = root / "a_circle" / "zz.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match=f"cannot read the image {broken}"):
        get_dataset(f"images:{root},test=0")
    broken.unlink()
    odd = save(root / "b_square" / "odd.png", np.zeros((5, 5), np.uint8))
    with pytest.raises(DataError) as err:
        get_dataset(f"images:{root},test=0")
    assert str(odd) in str(err.value) and "5x5" in str(err.value) and "size=" in str(err.value)
    assert get_dataset(f"images:{root},size=5,test=0").x.shape[2:] == (5, 5)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("x")
    with pytest.raises(DataError, match="holds no images.*found: readme.md"):
        get_dataset(f"images:{tmp_path / 'empty'}")
    (root / "c_empty").mkdir()
    with pytest.raises(DataError, match="class folder\\(s\\) c_empty .* hold no images"):
        get_dataset(f"images:{root}")
    with pytest.raises(DataError, match="no such folder"):
        get_dataset(f"images:{tmp_path / 'nowhere'}")
    save(tmp_path / "mixed" / "loose.png", np.zeros((4, 4), np.uint8))
    save(tmp_path / "mixed" / "cls" / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DataError, match="both images .* and class folders"):
        get_dataset(f"images:{tmp_path / 'mixed'}")
    save(tmp_path / "one" / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DataError, match="no test split"):
        get_dataset(f"images:{tmp_path / 'one'}", "test")


def test_spec_options_are_validated_with_suggestions(tmp_path):
    with pytest.raises(DataError, match="unknown option 'szie'. Did you mean: size"):
        parse_spec("dir,szie=3")
    with pytest.raises(DataError, match="channels='grey3' is not valid. Did you mean: gray"):
        parse_spec("dir,channels=grey3")
    for bad, why in (("size=0", "positive N or HxW"), ("test=1.5", "fraction in \\[0, 1\\)"),
                     ("crop=none", "only applies with size="), ("size", "not key=value")):
        with pytest.raises(DataError, match=why):
            parse_spec(f"dir,{bad}")
    spec = parse_spec("dir,size=32x16,channels=grey,crop=centre,test=0.25")
    assert (spec.size, spec.channels, spec.crop, spec.test) == ((32, 16), "gray", "center", 0.25)
    assert spec.render() == "images:dir,size=32x16,channels=gray,test=0.25"
    comma = tmp_path / "a,b"
    comma.mkdir()
    assert parse_spec(str(comma)).path == comma  # an existing folder whose name holds a comma


def test_path_helpers_make_specs_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert absolute_spec("images:imgs,size=8") == f"images:{tmp_path / 'imgs'},size=8"
    assert absolute_spec("npz:data.npz") == f"npz:{tmp_path / 'data.npz'}"
    assert absolute_spec("mnist") == "mnist" and absolute_spec(f"idx:{tmp_path}") == f"idx:{tmp_path}"
    assert spec_path("images:imgs,size=8") == Path("imgs") and spec_path("digits") is None
    assert needs_root("mnist") and needs_root("fashion") and needs_root("mnist-inv")
    assert not needs_root("digits") and not needs_root("images:x") and not needs_root("ring8")


def test_held_out_is_stratified_and_keeps_training_examples():
    mask = held_out([0] * 10 + [1] * 3 + [2], 14, 0.2)
    assert mask[:10].sum() == 2 and mask[10:13].sum() == 1 and not mask[13]  # a lone example stays in train
    assert not held_out(None, 5, 0.0).any()
