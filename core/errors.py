"""The one root exception of samplemill and its children, raised where input enters."""

from __future__ import annotations


class SamplemillError(Exception):
    """Root of every error samplemill raises on purpose."""


class PermanentError(SamplemillError):
    """A target cannot succeed however often it is retried (bad input, corrupt media)."""


class ConfigError(PermanentError):
    """A setting, a parameter or a job spec is invalid; the message names the key.

    Deterministic, so a target that raises it fails at once instead of being retried.
    """


class NotFoundError(PermanentError):
    """A job, subset, sample or file named by the user or a spec is not in the catalog."""


class MediaError(PermanentError):
    """A media file is corrupt, truncated or unsupported; carries the decoder's message."""


class UnsafePathError(PermanentError):
    """A remote identifier or file name would escape the data directory."""


class DownloadError(SamplemillError):
    """A download failed; `permanent` says whether retrying could help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class QueryError(ConfigError):
    """A filter or sort expression is invalid; the message points at the bad token."""
