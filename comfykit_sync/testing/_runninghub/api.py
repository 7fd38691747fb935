"""The six endpoints of RunningHub's task API (spec: runninghub-protocol.md).

Every reply is an HTTP 200 envelope, errors included; the API key travels in the body (a form
field for uploads) and is checked before anything else.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aiohttp import web

from .outputs import OutputPublisher, default_outputs, output_nodes
from .records import TaskRecord
from .tasks import Created, Limits, Workspace
from .wire import envelope, json_object, multipart_fields

ROUTES = {
    "/api/openapi/getJsonApiFormat": "get_workflow",
    "/task/openapi/create": "create",
    "/task/openapi/status": "status",
    "/task/openapi/outputs": "outputs",
    "/task/openapi/cancel": "cancel",
    "/task/openapi/upload": "upload",
}


class Settings(Limits, Protocol):
    """The server settings the endpoints read."""

    @property
    def api_key(self) -> str: ...
    @property
    def key_errors(self) -> Mapping[str, int]: ...
    @property
    def numeric_ids(self) -> bool: ...
    @property
    def max_upload_size(self) -> int: ...


class RunningHubApi:
    """The endpoint handlers, over the account's :class:`Workspace`.

    ``cdn_url()`` is the base URL of the CDN port (known once it is bound).
    """

    def __init__(
        self,
        settings: Settings,
        workspace: Workspace,
        publisher: OutputPublisher,
        cdn_url: Callable[[], str],
    ) -> None:
        self._settings = settings
        self._workspace = workspace
        self._publisher = publisher
        self._cdn_url = cdn_url

    def add_routes(self, app: web.Application) -> None:
        for path, method in ROUTES.items():
            app.router.add_post(path, getattr(self, method))

    # ----------------------------------------------------------------- helpers

    def _refused(self, key: Any) -> web.Response | None:
        """The error envelope for a key that may not use the API, else ``None``."""
        key_errors = self._settings.key_errors
        if isinstance(key, str) and key in key_errors:
            return envelope(key_errors[key])
        return None if key == self._settings.api_key else envelope(802)

    def _wire_id(self, value: str) -> str | int:
        """An id as sent: a JSON number with ``numeric_ids``, else a string."""
        return int(value) if self._settings.numeric_ids and value.isdigit() else value

    def _task(self, body: dict[str, Any] | None) -> TaskRecord | web.Response:
        if body is None or "taskId" not in body:
            return envelope(301)
        refused = self._refused(body.get("apiKey"))
        if refused is not None:
            return refused
        task = self._workspace.task(str(body["taskId"]))
        return task if task is not None else envelope(807)

    # --------------------------------------------------------------- endpoints

    async def get_workflow(self, request: web.Request) -> web.StreamResponse:
        body = await json_object(request)
        if body is None:
            return envelope(301)
        refused = self._refused(body.get("apiKey"))
        if refused is not None:
            return refused
        graph = self._workspace.workflow(str(body.get("workflowId")))
        if graph is None:
            return envelope(380)
        return envelope(data={"prompt": json.dumps(graph)})

    async def create(self, request: web.Request) -> web.StreamResponse:
        body = await json_object(request)
        if body is None or "workflowId" not in body:
            return envelope(301)
        refused = self._refused(body.get("apiKey"))
        if refused is not None:
            return refused
        created = self._workspace.create(body, self._settings)
        if not isinstance(created, Created):
            return envelope(created)
        task, graph = created.task, created.graph
        files = task.script.outputs
        task.outputs = self._publisher.publish(
            task,
            default_outputs(graph) if files is None else files,
            cdn_url=self._cdn_url(),
            task_cost=self._settings.task_cost,
            wire_id=self._wire_id,
        )
        tips = {
            "result": True,
            "error": None,
            "outputs_to_execute": output_nodes(graph),
            "node_errors": task.script.node_errors or {},
        }
        return envelope(
            data={
                "taskId": self._wire_id(task.task_id),
                "taskStatus": task.state(),
                "clientId": uuid.uuid4().hex,
                "netWssUrl": None,
                "promptTips": json.dumps(tips),
            }
        )

    async def status(self, request: web.Request) -> web.StreamResponse:
        task = self._task(await json_object(request))
        if not isinstance(task, TaskRecord):
            return task
        state = task.state()
        if state in ("QUEUED", "RUNNING") and task.script.status_text is not None:
            return envelope(data=task.script.status_text)
        return envelope(data=state)

    async def outputs(self, request: web.Request) -> web.StreamResponse:
        task = self._task(await json_object(request))
        if not isinstance(task, TaskRecord):
            return task
        state = task.state()
        if state == "QUEUED":
            return envelope(813)
        if state == "RUNNING":
            return envelope(804)
        if state == "FAILED":
            reason = "task cancelled by the user" if task.cancelled else task.script.failed_reason
            return envelope(805, {"failedReason": reason})
        return envelope(data=task.outputs)

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        task = self._task(await json_object(request))
        if not isinstance(task, TaskRecord):
            return task
        if task.state() in ("QUEUED", "RUNNING"):
            task.cancelled = True
        return envelope()

    async def upload(self, request: web.Request) -> web.StreamResponse:
        form = multipart_fields(await request.read(), request.headers.get("Content-Type", ""))
        refused = self._refused(form.get("apiKey", (None, b""))[1].decode("utf-8", "replace"))
        if refused is not None:
            return refused
        filename, content = form.get("file", (None, b""))
        if not filename:
            return envelope(301)
        if len(content) > self._settings.max_upload_size:
            return envelope(809)
        name = self._workspace.add_upload(filename, content)
        return envelope(data={"fileName": name, "fileType": "input"})
