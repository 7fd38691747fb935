"""Submit-time validation of an API-format prompt, as ComfyUI's ``validate_prompt`` does it.

Error dicts use ComfyUI's exact shapes (``type``, ``message``, ``details``,
``extra_info``); valid literal inputs are coerced in place (``"42"`` -> ``42``),
so the queued graph carries the coerced values like the real server's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._folders import Folders
from ._nodes import CATALOGUE, InputFiles, NodeDef

_COERCE = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}


@attrs.frozen
class Validation:
    """Outcome of validating one prompt: ``error`` is None when something can run."""

    error: dict[str, Any] | None
    outputs: list[str]
    node_errors: dict[str, Any]


def _error(kind: str, message: str, details: str, extra_info: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra_info}


def is_link(value: object) -> bool:
    """A well-formed link: ``[source_node_id, output_index]``."""
    return isinstance(value, list) and len(value) == 2


def types_compatible(received: Any, expected: Any) -> bool:
    """ComfyUI's ``validate_node_input`` (non-strict): any shared type name matches."""
    if received == expected or not isinstance(received, str) or not isinstance(expected, str):
        return True
    if "*" in (received, expected):
        return True
    return bool({t.strip() for t in received.split(",")} & {t.strip() for t in expected.split(",")})


def check_structure(
    prompt: object, catalogue: Mapping[str, NodeDef] = CATALOGUE
) -> dict[str, Any] | None:
    """The ``invalid_prompt`` error for non-node entries, missing or unknown classes.

    A UI-format workflow (``nodes``/``links`` lists) fails here too, as on the
    real server. Raises TypeError when ``prompt`` is not an object at all.
    """
    if not isinstance(prompt, dict):
        raise TypeError("prompt must be an object of node objects")
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            return _error(
                "invalid_prompt",
                "Cannot execute because a node is missing the class_type property.",
                f"Node ID '#{node_id}'",
                {},
            )
        if node["class_type"] not in catalogue:
            return _error(
                "invalid_prompt",
                f"Cannot execute because node {node['class_type']} does not exist.",
                f"Node ID '#{node_id}'",
                {},
            )
        if not isinstance(node.get("inputs", {}), dict):
            raise TypeError(f"inputs of node {node_id} must be an object")
    return None


class _Validator:
    """Recursive per-node validation with memoisation, like ``validate_inputs``."""

    def __init__(
        self, prompt: dict[str, Any], folders: Folders, catalogue: Mapping[str, NodeDef]
    ) -> None:
        self.prompt = prompt
        self.folders = folders
        self.catalogue = catalogue
        self.valid: dict[str, bool] = {}
        self.errors: dict[str, list[dict[str, Any]]] = {}
        self.visiting: list[str] = []

    def validate(self, node_id: str) -> bool:
        """Whether ``node_id`` and everything upstream of it is valid."""
        if node_id in self.valid:
            return self.valid[node_id]
        if node_id in self.visiting:
            self._report_cycle(self.visiting[self.visiting.index(node_id) :] + [node_id])
            return False
        node = self.prompt[node_id]
        definition = self.catalogue[node["class_type"]]
        inputs = node.setdefault("inputs", {})
        upstream_ok = True
        self.visiting.append(node_id)
        try:
            for name in definition.declared_inputs():
                error, source = self._check_input(inputs, definition, name)
                if error is not None:
                    self.errors.setdefault(node_id, []).append(error)
                elif source is not None and not self.validate(source):
                    upstream_ok = False
        finally:
            self.visiting.pop()
        self.valid[node_id] = (
            self.valid.get(node_id, True) and upstream_ok and not self.errors.get(node_id)
        )
        return self.valid[node_id]

    def _report_cycle(self, cycle: list[str]) -> None:
        path = " -> ".join(f"{n} ({self.prompt[n]['class_type']})" for n in cycle)
        for member in dict.fromkeys(cycle):
            error = _error(
                "dependency_cycle", "Dependency cycle detected", path, {"node_id": member}
            )
            self.errors.setdefault(member, []).append(error)
            self.valid[member] = False

    def _check_input(
        self, inputs: dict[str, Any], definition: NodeDef, name: str
    ) -> tuple[dict[str, Any] | None, str | None]:
        """(own error, linked source node id) of one declared input."""
        category, spec = definition.input_spec(name, self.folders) or ("optional", ("*",))
        if name not in inputs:
            if category == "required":
                return _error(
                    "required_input_missing",
                    "Required input is missing",
                    name,
                    {"input_name": name},
                ), None
            return None, None
        input_type = spec[0]
        options = spec[1] if len(spec) > 1 else {}
        info = [input_type, options]
        value = inputs[name]
        if isinstance(value, list):
            return self._check_link(name, value, input_type, info)
        try:
            if isinstance(value, dict) and "__value__" in value:
                value = value["__value__"]
            if isinstance(input_type, str) and input_type in _COERCE:
                value = _COERCE[input_type](value)
            inputs[name] = value
        except (TypeError, ValueError) as ex:
            return _error(
                "invalid_input_type",
                f"Failed to convert an input value to a {input_type} value",
                f"{name}, {value}, {ex}",
                {
                    "input_name": name,
                    "input_config": info,
                    "received_value": value,
                    "exception_message": str(ex),
                },
            ), None
        extra = {"input_name": name, "input_config": info, "received_value": value}
        if "min" in options and value < options["min"]:
            return _error(
                "value_smaller_than_min",
                f"Value {value} smaller than min of {options['min']}",
                name,
                extra,
            ), None
        if "max" in options and value > options["max"]:
            return _error(
                "value_bigger_than_max",
                f"Value {value} bigger than max of {options['max']}",
                name,
                extra,
            ), None
        choices = (
            input_type
            if isinstance(input_type, list)
            else options.get("options")
            if input_type == "COMBO"
            else None
        )
        if (
            choices is not None
            and value not in choices
            and not self._is_input_file(definition, name, value)
        ):
            listed = f"(list of length {len(choices)})" if len(choices) > 20 else str(choices)
            extra["input_config"] = None if len(choices) > 20 else info
            return _error(
                "value_not_in_list",
                "Value not in list",
                f"{name}: {value!r} not in {listed}",
                extra,
            ), None
        return None, None

    def _check_link(
        self, name: str, link: list[Any], input_type: Any, info: list[Any]
    ) -> tuple[dict[str, Any] | None, str | None]:
        source = link[0] if len(link) == 2 else None
        slot = link[1] if len(link) == 2 else None
        source_node = self.prompt.get(source) if isinstance(source, str) else None
        outputs = self.catalogue[source_node["class_type"]].outputs if source_node else ()
        if not isinstance(slot, int) or isinstance(slot, bool) or not 0 <= slot < len(outputs):
            return _error(
                "bad_linked_input",
                "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                name,
                {"input_name": name, "input_config": info, "received_value": link},
            ), None
        received = outputs[slot]
        if not types_compatible(received, input_type):
            return _error(
                "return_type_mismatch",
                "Return type mismatch between linked nodes",
                f"{name}, received_type({received}) mismatch input_type({input_type})",
                {
                    "input_name": name,
                    "input_config": info,
                    "received_type": received,
                    "linked_node": link,
                },
            ), None
        return None, source

    def _is_input_file(self, definition: NodeDef, name: str, value: object) -> bool:
        """Loader inputs also accept ``sub/name`` and ``name [temp]``/``[output]`` forms."""
        declared = definition.required.get(name) or definition.optional.get(name)
        return (
            declared is not None
            and isinstance(declared[0], InputFiles)
            and isinstance(value, str)
            and self.folders.resolve_annotated(value) is not None
        )


def validate_prompt(
    prompt: dict[str, Any],
    folders: Folders,
    targets: list[str] | None = None,
    catalogue: Mapping[str, NodeDef] = CATALOGUE,
) -> Validation:
    """Validate ``prompt`` (mutating literal inputs into their coerced values).

    With ``targets`` (``partial_execution_targets``) only the output nodes listed in it are
    validated, with what they depend on; ids that are not output nodes are ignored, and none
    left is ``prompt_no_outputs``, as on the real server. ``catalogue`` holds the node classes
    the server has.
    """
    structure_error = check_structure(prompt, catalogue)
    if structure_error is not None:
        return Validation(structure_error, [], {})
    outputs = [
        node_id
        for node_id, node in prompt.items()
        if catalogue[node["class_type"]].output_node and (targets is None or node_id in targets)
    ]
    if not outputs:
        return Validation(_error("prompt_no_outputs", "Prompt has no outputs", "", {}), [], {})
    validator = _Validator(prompt, folders, catalogue)
    good: list[str] = []
    node_errors: dict[str, Any] = {}
    for output in outputs:
        if validator.validate(output):
            good.append(output)
            continue
        # Like ComfyUI: every node validated so far that has errors of its own gets this
        # output, also nodes only an earlier failed output depends on.
        for node_id in validator.valid:
            if validator.errors.get(node_id):
                entry = node_errors.setdefault(
                    node_id,
                    {
                        "errors": validator.errors[node_id],
                        "dependent_outputs": [],
                        "class_type": prompt[node_id]["class_type"],
                    },
                )
                entry["dependent_outputs"].append(output)
    if good:
        return Validation(None, good, node_errors)
    details = "\n".join(
        f"{e['message']}: {e['details']}" for entry in node_errors.values() for e in entry["errors"]
    )
    error = _error(
        "prompt_outputs_failed_validation", "Prompt outputs failed validation", details, {}
    )
    return Validation(error, [], node_errors)
