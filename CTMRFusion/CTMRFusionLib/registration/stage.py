"""How a registration stage reports: its share of the progress bar, the cancel token, and its timings."""

from __future__ import annotations

from dataclasses import dataclass, field

from CTMRFusionLib.core.progress import CancelToken, ProgressCallback


@dataclass
class StageContext:
    """What a stage reports to: progress events in ``[base, base + share]`` of the whole run, cancel, and
    ``timings`` (seconds by name) for the report."""

    progress: ProgressCallback | None = None
    cancel: CancelToken | None = None
    base: float = 0.0
    share: float = 1.0
    timings: dict[str, float] = field(default_factory=dict)

    def at(self, fraction: float) -> float:
        """The overall progress fraction at ``fraction`` of this stage."""
        return self.base + self.share * fraction
