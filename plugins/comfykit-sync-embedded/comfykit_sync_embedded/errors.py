"""The plugin's error type: a ``WorkflowLoadError`` with a machine-readable reason."""

from __future__ import annotations

from comfykit_sync import WorkflowLoadError

#: ``reason`` values of :class:`EmbeddedWorkflowError`.
REASONS = (
    "no_metadata",
    "malformed",
    "corrupt",
    "wrong_magic",
    "too_large",
    "unsupported",
    "unreadable",
)


class EmbeddedWorkflowError(WorkflowLoadError):
    """A claimed media file has no usable workflow.

    ``reason`` is one of :data:`REASONS`; ``path`` the file; ``keys`` the metadata keys found.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        path: str,
        keys: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.path = path
        self.keys = keys
