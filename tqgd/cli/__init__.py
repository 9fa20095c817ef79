"""The ``tqgd`` command: one typer app, one module per stage (``tqgd/cli/<stage>.py``).

Every command turns a ``TQGDError`` into a one-line message on stderr and exit code 1 (2 for usage errors,
as typer does); no command exits 0 unless it did what it was asked.
"""

from __future__ import annotations

import sys

import typer

app = typer.Typer(
    name="tqgd",
    help="Coronary artery calcium in CT: read scans, make datasets, train TQGDNet, detect and score calcium.",
    no_args_is_help=True,
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", help="Print the tqgd version and exit.")) -> None:
    """Coronary artery calcium in CT: read scans, make datasets, train TQGDNet, detect and score calcium."""
    if version:
        import tqgd

        typer.echo(tqgd.__version__)
        raise typer.Exit(0)


#: Stage modules, in the order ``tqgd --help`` lists them; each exposes ``register(app)``.
STAGES: tuple[str, ...] = (
    "tqgd.cli.demo",
    "tqgd.cli.phantom",
    "tqgd.cli.inspect",
    "tqgd.cli.convert",
    "tqgd.cli.heart",
    "tqgd.cli.train",
    "tqgd.cli.val",
    "tqgd.cli.operating_point",
    "tqgd.cli.cv",
    "tqgd.cli.detect",
    "tqgd.cli.cohort",
    "tqgd.cli.explain",
    "tqgd.cli.score",
    "tqgd.cli.pacs",
    "tqgd.cli.baseline",
    "tqgd.cli.xa",
    "tqgd.cli.info",
)


def _register() -> None:
    """Attach each stage's commands (imports stay inside the commands, so ``--help`` is quick)."""
    import importlib

    for name in STAGES:
        importlib.import_module(name).register(app)


def main() -> None:
    """Console-script entry point."""
    from tqgd.errors import TQGDError

    _register()
    try:
        app()  # typer/click handle --help and usage errors (exit 2) themselves
    except TQGDError as exc:
        typer.secho(f"tqgd: error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.secho("tqgd: interrupted", err=True, fg=typer.colors.RED)
        sys.exit(130)
