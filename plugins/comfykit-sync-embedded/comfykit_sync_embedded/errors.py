"""The plugin's error type: a ``WorkflowLoadError`` with a machine-readable reason."""

from __future__ import annotations

from typing import Any

from comfykit_sync import WorkflowLoadError

#: ``reason`` values of :class:`EmbeddedWorkflowError`.
REASONS = (
    "ui_only",
    "no_metadata",
    "malformed",
    "corrupt",
    "wrong_magic",
    "too_large",
    "unsupported",
    "unreadable",
)


class EmbeddedWorkflowError(WorkflowLoadError):
    """A claimed media file has no usable API-format workflow.

    ``reason`` is one of :data:`REASONS`; ``path`` the file; ``ui_workflow`` the UI graph when
    the file carries only that (for callers that can convert it); ``keys`` the metadata keys found.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        path: str,
        ui_workflow: Any = None,
        keys: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.path = path
        self.ui_workflow = ui_workflow
        self.keys = keys
