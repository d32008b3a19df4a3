"""The JSON Schema of a job file, shipped in the package (``jobqueue/job.schema.json``)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def job_schema() -> dict[str, Any]:
    """The schema as a dict, for validators and documentation."""
    text = resources.files("jobqueue").joinpath("job.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
