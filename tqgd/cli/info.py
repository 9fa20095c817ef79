"""``tqgd info``: versions, where tqgd keeps its state, and which scan formats and models it knows."""

from __future__ import annotations

import typer


def info() -> None:
    """Print versions, state folders and supported formats.

    Example: tqgd info
    """
    import os
    import platform

    import torch
    import ultralytics
    from rich.console import Console
    from rich.table import Table

    import tqgd
    from tqgd.data.readers import supported_suffixes

    table = Table(title="tqgd", show_header=False)
    table.add_row("tqgd", tqgd.__version__)
    table.add_row("ultralytics", ultralytics.__version__)
    table.add_row("torch", f"{torch.__version__} (CUDA available: {torch.cuda.is_available()})")
    table.add_row("python", platform.python_version())
    table.add_row("ultralytics config dir", os.environ.get("YOLO_CONFIG_DIR", ""))
    table.add_row("offline", os.environ.get("YOLO_OFFLINE", ""))
    table.add_row("scan formats", ", ".join(supported_suffixes()) + ", DICOM folder")
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Attach ``tqgd info``."""
    app.command("info")(info)
