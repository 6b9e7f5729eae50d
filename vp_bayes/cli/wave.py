"""CLI commands: wave."""

from __future__ import annotations

from vp_bayes.cli.app import app, import_app  # noqa: F401
