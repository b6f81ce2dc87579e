"""The Jupyter server extension of DAG Studio."""

from __future__ import annotations
