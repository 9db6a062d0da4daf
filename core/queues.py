"""The Celery queues samplemill routes work to, defined once."""

from __future__ import annotations

from typing import Literal

Queue = Literal["io", "cpu", "render"]
QUEUES: tuple[Queue, ...] = ("io", "cpu", "render")
"""io: network and disk bound; cpu: decoding and analysis; render: compositions."""
