"""Small synthetic data shared by tests (made on the fly, never committed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml


def write_tiny_yolo_dataset(root: Path, n_train: int = 4, n_val: int = 2, size: int = 64, seed: int = 0) -> Path:
    """Write a YOLO dataset of bright squares on noise (one class) and return its data YAML path."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            w = int(rng.integers(6, size // 3))
            x0, y0 = (int(v) for v in rng.integers(0, size - w, 2))
            img[y0:y0 + w, x0:x0 + w] = 230
            cv2.imwrite(str(root / "images" / split / f"{i}.png"), img)
            cx, cy = (x0 + w / 2) / size, (y0 + w / 2) / size
            (root / "labels" / split / f"{i}.txt").write_text(f"0 {cx:.6f} {cy:.6f} {w / size:.6f} {w / size:.6f}\n")
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"path": str(root.resolve()), "train": "images/train", "val": "images/val",
                                    "names": {0: "calcium"}}))
    return data


def run_tqgd(monkeypatch, capsys, *args: object) -> tuple[int, str, str]:
    """Run ``tqgd ARGS`` as the console script does (200 columns wide); return (exit code, stdout, stderr)."""
    import sys

    import pytest

    from tqgd.cli import main

    monkeypatch.setattr(sys, "argv", ["tqgd", *map(str, args)])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err
