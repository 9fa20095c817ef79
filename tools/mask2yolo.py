#!/usr/bin/env python
"""Segmentation masks -> YOLO / COCO / VOC boxes: a thin script over ``tqgd.data.convert.masks.convert_masks``.

Same options as ``tqgd convert masks``; run ``python tools/mask2yolo.py --help``.

Example: python tools/mask2yolo.py scans/ masks/ boxes/ --format yolo --format coco --connectivity 8
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the converter on ``argv`` (default: the command line); returns the exit code."""
    import typer

    from tqgd.cli.convert import masks
    from tqgd.errors import TQGDError

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                      context_settings={"help_option_names": ["-h", "--help"]})
    app.command()(masks)
    try:
        app(args=argv, prog_name="mask2yolo.py")  # typer reports usage errors itself and exits (code 2)
    except TQGDError as exc:
        print(f"mask2yolo: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0

if __name__ == "__main__":
    sys.exit(main())
