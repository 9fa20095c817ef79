"""The paper's recipe as ultralytics arguments, pass-through key=value options, and the data YAML checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tqgd.engine.dataset_check import check_data_yaml
from tqgd.engine.recipe import PAPER_RECIPE, parse_option_words, recipe_table
from tqgd.engine.train import training_args
from tqgd.errors import ConfigError, DatasetError


def test_recipe_is_the_papers_section_3_1() -> None:
    r = PAPER_RECIPE
    assert (r["optimizer"], r["epochs"], r["batch"], r["pretrained"]) == ("SGD", 200, 4, False)
    assert r["lr0"] == 0.01 and r["lr0"] * r["lrf"] == pytest.approx(0.0001)  # "concluded with 0.0001"
    assert (r["momentum"], r["warmup_epochs"], r["warmup_momentum"], r["weight_decay"]) == (0.937, 3.0, 0.8, 0.0005)
    assert (r["fliplr"], r["hsv_h"], r["hsv_s"], r["hsv_v"], r["translate"], r["mosaic"]) == \
        (0.5, 0.015, 0.0, 0.4, 0.1, 1.0)


def test_option_words_are_typed_like_ultralytics_cli() -> None:
    assert parse_option_words(["lr0=0.02", "cos_lr=true", "workers=0", "optimizer=adamw", "cache=ram"]) == \
        {"lr0": 0.02, "cos_lr": True, "workers": 0, "optimizer": "adamw", "cache": "ram"}


@pytest.mark.parametrize(("words", "message"), [
    (["lr00=0.1"], r"unknown option 'lr00': not an ultralytics argument; did you mean lr0"),
    (["zzz=1"], r"unknown option 'zzz'.*cfg/default.yaml"),
    (["epochs=3"], r"option 'epochs' has its own flag; use --epochs"),
    (["mode=val"], r"option 'mode' is set by tqgd itself"),
    (["lr0"], r"cannot read option 'lr0'; write extra options as key=value"),
    (["lr0=0.1", "lr0=0.2"], r"option 'lr0' is given twice"),
    (["lr0=abc"], r"invalid option: 'lr0=abc' is of invalid type str"),
    (["fliplr=2"], r"invalid option: 'fliplr=2' is an invalid value.*between 0.0 and 1.0"),
    (["optimizer=Sgdd"], r"unknown optimizer 'Sgdd'; choose one of SGD"),
])
def test_bad_option_words_name_the_key(words: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_option_words(words)


def test_training_args_layering(tmp_path: Path) -> None:
    args = training_args(tmp_path / "d.yaml", "tqgdnet-n", epochs=2, batch=None, options={"lr0": 0.02, "fliplr": 0.0})
    assert args["lr0"] == 0.02 and args["fliplr"] == 0.0  # pass-through beats the recipe
    assert args["epochs"] == 2 and args["batch"] == 4  # named options beat the recipe; None keeps it
    assert args["pretrained"] is False and Path(args["project"]).is_absolute() and args["name"] == "exp"
    assert training_args(tmp_path / "d.yaml", tmp_path / "best.pt")["pretrained"] is True  # fine-tuning keeps weights
    sources = {key: source for key, _, source in recipe_table(args)}
    assert sources["lr0"] == "changed (paper: 0.01)" and sources["momentum"] == "paper 3.1"
    assert sources["epochs"] == "changed (paper: 200)" and sources["imgsz"] == "ultralytics default"


def _write(path: Path, content: dict) -> Path:
    path.write_text(yaml.safe_dump(content))
    return path


def test_data_yaml_resolves_splits(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    spec = check_data_yaml(_write(tmp_path / "d.yaml", {"path": str(tmp_path), "train": "images", "val": "images",
                                                          "names": ["calcium"]}))
    assert spec.splits["val"] == (tmp_path / "images",) and spec.names == {0: "calcium"}
    no_path = check_data_yaml(_write(tmp_path / "e.yaml", {"train": "images", "val": "images", "names": {0: "c"}}))
    assert no_path.root == tmp_path  # without path:, the YAML's own folder


@pytest.mark.parametrize(("content", "message"), [
    ({"train": "images", "names": ["c"]}, r"data YAML lacks val; an ultralytics dataset YAML needs"),
    ({"train": "images", "val": "images"}, r"data YAML lacks names"),
    ({"path": "rel/ds", "train": "images", "val": "images", "names": ["c"]}, r"'path: rel/ds' is relative"),
    ({"train": "images", "val": "missing", "names": ["c"]}, r"'val' entries not found: .*missing"),
    ({"train": "images", "val": "images", "names": "calcium"}, r"'names' must be a non-empty list"),
])
def test_bad_data_yaml_is_a_dataset_error(tmp_path: Path, content: dict, message: str) -> None:
    (tmp_path / "images").mkdir()
    with pytest.raises(DatasetError, match=message):
        check_data_yaml(_write(tmp_path / "d.yaml", content))


def test_missing_or_unreadable_data_yaml(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nope.yaml: data YAML not found"):
        check_data_yaml(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("train: [unclosed\n")
    with pytest.raises(DatasetError, match=r"bad.yaml: cannot read this data YAML"):
        check_data_yaml(tmp_path / "bad.yaml")
