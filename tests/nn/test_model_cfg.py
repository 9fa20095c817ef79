"""Config names resolve like ultralytics' (tqgdnet-n -> tqgdnet.yaml at scale n); shipped YAMLs are well-formed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tqgd.errors import ConfigError
from tqgd.nn import resolve_model_cfg
from tqgd.nn.model_cfg import shipped_configs

#: Tables 2-3 of the paper in each reading (ThrConvs*B+Qf+GD is tqgdnet / tqgdnet-faithful themselves): GD stacked on
#: PANet and injecting P3-P5 (-gd, -qf-gd), GD as the neck injecting P3/P4 (-gd34, -qf-gd34), down-projection and
#: same-resolution ThrConvs (thrconvs- / thrconvs-same-).
ABLATION_FAMILY = {"yolov5b-panet", "yolov5b-fpn", "yolov5b-qf", "yolov5b-gd", "yolov5b-qf-gd", "yolov5b-gd34",
                   "yolov5b-qf-gd34", "thrconvs-panet", "thrconvs-qf", "thrconvs-gd", "thrconvs-gd34",
                   "thrconvs-qf-gd34", "thrconvs-same-panet", "thrconvs-same-qf", "thrconvs-same-gd34",
                   "thrconvs-same-qf-gd"}
FULL_MODELS = {"tqgdnet", "tqgdnet-p2", "tqgdnet-faithful", "tqgdnet-faithful-p2"}


def test_shipped_configs_are_found_through_the_package() -> None:
    assert FULL_MODELS | ABLATION_FAMILY == set(shipped_configs())


@pytest.mark.parametrize(("name", "stem", "scale"), [
    ("tqgdnet-n", "tqgdnet", "n"),
    ("tqgdnet-s.yaml", "tqgdnet", "s"),
    ("tqgdnet-p2-m", "tqgdnet-p2", "m"),
    ("yolov5b-qf-gd-n", "yolov5b-qf-gd", "n"),
])
def test_names_resolve_to_config_and_scale(name: str, stem: str, scale: str) -> None:
    cfg = resolve_model_cfg(name)
    assert cfg["scale"] == scale and cfg["yaml_file"] == f"{stem}-{scale}.yaml"
    assert cfg == {**yaml.safe_load(shipped_configs()[stem].read_text()), "scale": scale, "yaml_file": cfg["yaml_file"]}


def test_yaml_paths_take_the_scale_from_the_name_or_the_file(tmp_path: Path) -> None:
    text = shipped_configs()["tqgdnet"].read_text()
    (tmp_path / "mynet.yaml").write_text(text)
    assert resolve_model_cfg(tmp_path / "mynet-s.yaml")["scale"] == "s"
    (tmp_path / "fixed.yaml").write_text(text + "\nscale: m\n")
    assert resolve_model_cfg(tmp_path / "fixed.yaml")["scale"] == "m"


def test_unknown_name_lists_the_known_ones() -> None:
    known = r"unknown model config 'tqgdnett-n'; known: .*tqgdnet-\{n,s,m\}.*yolov5b-fpn"
    with pytest.raises(ConfigError, match=known):
        resolve_model_cfg("tqgdnett-n")


@pytest.mark.parametrize(("name", "message"), [
    ("tqgdnet", r"tqgdnet: no scale given; choose one of tqgdnet-n, tqgdnet-s, tqgdnet-m"),
    ("tqgdnet-x", r"tqgdnet-x: unknown scale 'x'; choose one of tqgdnet-n"),
])
def test_missing_or_unknown_scale_is_refused(name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_model_cfg(name)


def test_a_yaml_without_model_keys_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "data.yaml"
    bad.write_text("path: /data\nnames: {0: calcium}\n")
    with pytest.raises(ConfigError, match=r"data.yaml: model config lacks \['nc', 'backbone', 'head'\]"):
        resolve_model_cfg(bad)


@pytest.mark.parametrize("stem", sorted(shipped_configs()))
def test_configs_have_a_header_and_row_comments_with_index_and_stride(stem: str) -> None:
    text = shipped_configs()[stem].read_text()
    assert text.startswith("# ") and "Usage:" in text.split("\nnc:")[0]
    rows = [line for line in text.splitlines() if re.match(r"\s+- \[", line)]
    assert len(rows) == len(yaml.safe_load(text)["backbone"]) + len(yaml.safe_load(text)["head"])
    for index, line in enumerate(rows):
        comment = re.search(r"# (\d+)(-P\d/\d+)?", line)
        assert comment and int(comment.group(1)) == index, f"{stem}: row {index} comment is wrong: {line.strip()}"
        assert comment.group(2) or "Detect" in line, f"{stem}: row {index} comment lacks its stride: {line.strip()}"
