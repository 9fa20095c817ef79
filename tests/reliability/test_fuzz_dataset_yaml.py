"""Fuzz the dataset-YAML check that runs before training and validation: missing keys, wrong types, relative or
missing paths, odd class names and broken YAML all end in a named ``DatasetError``; what passes is usable."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.reliability.fuzz import FUZZ_SETTINGS, check_refusal, count

SUITE = "dataset yaml (keys, types, paths, names)"
MISSING = "<missing>"


def check_yaml(path: str) -> dict:
    """Worker side: ``check_data_yaml`` as plain data."""
    from tqgd.engine.dataset_check import check_data_yaml

    spec = check_data_yaml(path)
    return {"root": str(spec.root), "splits": {k: [str(p) for p in v] for k, v in spec.splits.items()},
            "names": spec.names}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dataset")
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "images" / split / "0.png").write_bytes(b"\x89PNG")
    (root / "list.txt").write_text("./images/train/0.png\n")
    return root


def _values(root: Path) -> dict[str, st.SearchStrategy]:
    split = st.sampled_from(["images/train", "images/val", "list.txt", "images/missing", "", None, 5, ["images/train"],
                             ["images/train", "images/missing"], [], {"a": "b"}, str(root / "images/val"), MISSING])
    return {
        "path": st.sampled_from([str(root), "relative/dir", str(root / "missing"), "", None, 5, [str(root)], MISSING]),
        "train": split, "val": split, "test": st.sampled_from([MISSING, MISSING, "images/val", "images/missing"]),
        "names": st.sampled_from([["calcium"], {0: "calcium"}, {0: "a", 1: "b"}, {1: "calcium"}, {"0": "calcium"},
                                  {"a": "calcium"}, [], {}, "calcium", 5, None, ["calcium", None], [""], {0: None},
                                  ["a", "a"], MISSING]),
        "nc": st.sampled_from([MISSING, MISSING, 1, 2, "x"]),
    }


def yaml_problem(content: object, root: Path, yaml_dir: Path) -> str | None:
    """Why a parsed data YAML cannot be used (independent rules), or None."""
    if not isinstance(content, dict):
        return "not a mapping"
    base = content.get("path", MISSING)
    if base in (MISSING, None, ""):
        base_dir = yaml_dir
    elif not isinstance(base, str) or not Path(base).is_absolute() or not Path(base).is_dir():
        return "path"
    else:
        base_dir = Path(base)
    for key in ("train", "val"):
        entries = content.get(key)
        if entries in (None, "", [], {}):
            return f"{key} missing"
        entries = entries if isinstance(entries, list) else [entries]
        if not all(isinstance(e, str) and e and (base_dir / e).exists() for e in entries):
            return f"{key} entries"
    names = content.get("names")
    if isinstance(names, list):
        names = dict(enumerate(names))
    elif isinstance(names, dict) and all(isinstance(k, int) or str(k).isdigit() for k in names):
        names = {int(k): v for k, v in names.items()}  # YAML may quote keys: '0': calcium
    if not isinstance(names, dict) or not names or sorted(names) != list(range(len(names))) or \
            not all(isinstance(v, (str, int, float)) and str(v).strip() for v in names.values()):
        return "names"
    if "nc" in content and content["nc"] != len(names):
        return "nc"
    return None


@FUZZ_SETTINGS
@given(data=st.data(), form=st.sampled_from(["mapping", "mapping", "mapping", "list", "broken", "binary", "empty"]))
def test_dataset_yamls(dataset: Path, runner, data, form: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="case-", dir=dataset.parent))
    path = folder / "data.yaml"
    content: object = None
    try:
        if form == "mapping":
            drawn = {key: data.draw(strategy, label=key) for key, strategy in _values(dataset).items()}
            content = {k: v for k, v in drawn.items() if v is not MISSING and v != MISSING}
            path.write_text(yaml.safe_dump(content))
        elif form == "list":
            content = ["train", "val"]
            path.write_text(yaml.safe_dump(content))
        elif form == "broken":
            path.write_text("train: [images/train\nval: {")
        elif form == "binary":
            path.write_bytes(b"\xff\xfe\x00train")
        else:
            path.write_text("")
        outcome = runner.run(check_yaml, str(path))
        problem = yaml_problem(content, dataset, folder) if form in ("mapping", "list") else form
        case = f"{form} {content!r}"
        if problem is None:
            if outcome.kind != "ok":
                count(SUITE, "failed (refused a usable YAML)")
                raise AssertionError(f"{case}: refused: {outcome.message}")
            count(SUITE, "accepted (usable by the rules)")
            return
        if outcome.kind == "ok":
            count(SUITE, "failed (accepted an unusable YAML)")
            raise AssertionError(f"{case}: accepted although its {problem} is unusable: {outcome.value}")
        check_refusal(outcome, SUITE, path, case)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
