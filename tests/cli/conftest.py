"""Shared fixtures of the CLI tests: the typer app with every command registered, for typer's CliRunner."""

from __future__ import annotations

import pytest

import tqgd.cli


@pytest.fixture(scope="module")
def app():
    tqgd.cli._register()
    return tqgd.cli.app
