"""A city's ``history.yaml``: which format its history file is in, and where the file is.

Written by ``cityops build-city``, so that later commands need only ``--city`` (and
``--data`` for another file of the same format)::

    history:
      format: columns            # spb | nyc311 | open311 | cn_hotline | columns
      data: ../../data/311.csv   # relative to the city folder, or absolute
      columns: {format: csv, id: unique_key, created: created_date, ...}
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.history.columns import Columns

__all__ = ["HistorySource"]


class HistorySource(BaseModel):
    """Where a city's history is and how to read it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = Field(description="History format: spb, nyc311, open311, cn_hotline or columns")
    data: Path | None = Field(default=None, description="History file (relative paths: from the city folder)")
    columns: Columns | None = Field(default=None, description="Which column holds what (format: columns)")

    @model_validator(mode="after")
    def _columns_given(self) -> HistorySource:
        if (self.format == "columns") != (self.columns is not None):
            raise ValueError("history: 'columns' is required with format: columns, and only then")
        return self
