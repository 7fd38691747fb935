"""``ExecuteResult`` pickles and round-trips through ``to_dict()`` / JSON / ``from_dict()``."""

from __future__ import annotations

import inspect
import json
import pickle

import attrs
import pytest
from helpers import T2I

from comfykit_sync import ComfyKit, errors
from comfykit_sync.errors import ComfyKitError, ExecutionError, ExecutionTimeout
from comfykit_sync.models import Artifact, ExecuteResult
from comfykit_sync.testing import Script


@pytest.fixture
def kit(fake_comfyui):
    with ComfyKit(fake_comfyui.url, timeout=30) as kit:
        yield kit


@pytest.fixture
def completed(kit) -> ExecuteResult:
    """A real completed result: an image and a text output, seeds, a file URL."""
    result = kit.execute(T2I, {"prompt": "a cat", "seed": 7})
    assert result.ok, result.msg
    assert result.images and result.texts and result.seeds
    return result


@pytest.fixture
def failed(kit, fake_comfyui) -> ExecuteResult:
    fake_comfyui.script(Script(error_node="3", error_message="CUDA out of memory"))
    result = kit.execute(T2I, {"prompt": "a dog"})
    assert result.status == "failed"
    assert isinstance(result.error, ExecutionError)
    return result


def through_json(result: ExecuteResult, **kwargs) -> ExecuteResult:
    return ExecuteResult.from_dict(json.loads(json.dumps(result.to_dict())), **kwargs)


def test_a_completed_result_round_trips_every_field(completed, kit):
    data = completed.to_dict()
    assert json.loads(json.dumps(data)) == data  # JSON-safe as it is
    back = through_json(completed)
    assert back == completed
    for field in ("artifacts", "outputs", "seeds", "warnings", "duration", "backend", "msg"):
        assert getattr(back, field) == getattr(completed, field), field
    assert isinstance(back.artifacts, tuple) and isinstance(back.warnings, tuple)
    assert back.images_by_var == completed.images_by_var and back.texts == completed.texts
    # the derived lists are in the dict for readers in other languages
    assert data["images"] == completed.images
    assert data["artifacts"][0]["url"] == completed.artifacts[0].url


def test_every_artifact_field_round_trips():
    fields = {
        "kind": "video",
        "var": "clip",
        "node_id": "12.0.3",
        "url": "http://127.0.0.1:1/view?filename=a.mp4",
        "filename": "a.mp4",
        "subfolder": "sub",
        "folder_type": "temp",
        "text": None,
        "animated": True,
        "display_node": "12",
    }
    assert set(fields) == {a.name for a in attrs.fields(Artifact)} - {"_fetch"}  # all of them
    art = Artifact(**fields)
    result = ExecuteResult(status="completed", prompt_id="p", artifacts=(art,), warnings=["w"])
    back = through_json(result)
    assert back.artifacts == (art,) and back.artifacts[0].display_node == "12"
    assert back.videos_by_var == {"clip": [art.url]}
    assert back.warnings == ("w",)


def test_a_failed_result_keeps_its_typed_error(failed):
    back = through_json(failed)
    assert back == failed
    error, original = back.error, failed.error
    assert type(error) is type(original) and str(error) == str(original)
    assert vars(error) == vars(original)  # node_id, node_type, exception_type, traceback, ...
    assert isinstance(error.traceback, tuple)
    with pytest.raises(ExecutionError, match="CUDA out of memory"):
        back.raise_for_status()


def test_a_timeout_comes_back_as_execution_timeout(kit, fake_comfyui):
    fake_comfyui.script(Script(duration=30))
    result = kit.execute(T2I, {"prompt": "slow"}, timeout=0.5)
    assert isinstance(result.error, ExecutionTimeout)
    back = through_json(result)
    assert isinstance(back.error, ExecutionTimeout) and isinstance(back.error, TimeoutError)
    assert back.error.deadline == "total" and back.error.cancelled == result.error.cancelled
    assert back.error.prompt_id == result.prompt_id


def _sample(cls: type[ComfyKitError]) -> ComfyKitError:
    """An instance of ``cls`` with every keyword field of its ``__init__`` set."""
    values = {
        "prompt_id": "p-1",
        "node_id": "3",
        "node_type": "KSampler",
        "exception_type": "RuntimeError",
        "traceback": ("line 1", "line 2"),
        "status_code": 503,
        "url": "http://127.0.0.1:1/prompt",
        "body": {"error": {"message": "m"}},
        "node_errors": {"3": {"errors": []}},
        "param_errors": {"seed": "bad"},
        "retry_after": 2.5,
        "plugin": "presets",
        "params": ("seed",),
        "field": "text",
        "title": "Sampler",
        "sent": False,
        "cancelled": True,
        "cancel_confirmed": True,
        "deadline": "queue",
        "exception_message": "line 1\nline 2",
        "executed": ("4", "5"),
        "current_inputs": {"seed": [42], "model": [None]},
        "current_outputs": ("3",),
        "timestamp": 1764000000000,
    }
    accepted = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            accepted |= set(inspect.signature(klass.__init__).parameters)
    return cls(f"{cls.__name__} happened", **{k: v for k, v in values.items() if k in accepted})


ERROR_CLASSES = sorted(
    (c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, ComfyKitError)),
    key=lambda c: c.__name__,
)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_class_round_trips_through_json_and_pickle(cls):
    error = _sample(cls)
    result = ExecuteResult(status="failed", prompt_id="p-1", msg=str(error), error=error)
    for back in (through_json(result), pickle.loads(pickle.dumps(result))):
        assert type(back.error) is cls
        assert str(back.error) == str(error)
        assert vars(back.error) == vars(error)


class PresetError(ExecutionError):
    """An error class a plugin defines, with a required keyword field."""

    def __init__(self, message: str, *, preset: str, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.preset = preset


def test_a_plugin_error_class_comes_back_as_itself():
    error = PresetError("preset missing", preset="portrait", prompt_id="p")
    result = ExecuteResult(status="failed", msg=str(error), error=error)
    back = through_json(result)
    assert type(back.error) is PresetError and back.error.preset == "portrait"
    assert type(pickle.loads(pickle.dumps(result)).error) is PresetError


def test_an_unknown_error_class_falls_back_to_its_comfykit_base_without_importing():
    data = ExecuteResult(
        status="failed", error=PresetError("x", preset="p", prompt_id="p")
    ).to_dict()
    data["error"]["type"] = "Elsewhere"
    data["error"]["module"] = "os"  # never imported or looked up outside the error classes
    back = ExecuteResult.from_dict(data)
    assert type(back.error) is ExecutionError and back.error.preset == "p"
    data["error"].pop("base")
    data["error"]["type"] = "system"
    assert type(ExecuteResult.from_dict(data).error) is ComfyKitError


def test_a_result_with_its_kits_fetcher_pickles_and_downloads_again(completed, kit, tmp_path):
    assert completed.artifacts[0]._fetch is not None
    back = pickle.loads(pickle.dumps(completed))
    assert back == completed and back._fetch is None
    assert all(a._fetch is None for a in back.artifacts)
    image = next(a for a in completed.artifacts if a.kind == "image")
    copy = next(a for a in back.artifacts if a.kind == "image")
    assert copy.bytes(kit=kit) == image.bytes()
    assert [p.name for p in back.save(tmp_path / "a", kit=kit)] == [image.filename]


def test_from_dict_with_a_kit_downloads_through_it(completed, kit, tmp_path):
    back = through_json(completed, kit=kit)
    assert back._fetch is not None and all(a._fetch is not None for a in back.artifacts)
    saved = back.save(tmp_path / "out")
    assert saved and saved[0].read_bytes() == completed.artifacts[0].bytes()


def test_from_dict_refuses_what_is_not_a_result():
    with pytest.raises(ValueError, match="needs a dict"):
        ExecuteResult.from_dict(["completed"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'status'"):
        ExecuteResult.from_dict({"status": "done"})
    with pytest.raises(ValueError, match="message"):
        ExecuteResult.from_dict({"status": "failed", "error": {"type": "ExecutionError"}})


def test_from_dict_ignores_unknown_keys_and_fills_defaults():
    back = ExecuteResult.from_dict({"status": "completed", "region": "eu-west"})
    assert back == ExecuteResult(status="completed")


def test_only_public_fields_are_restored_on_an_error():
    data = ExecuteResult(status="failed", error=ExecutionError("x", prompt_id="p")).to_dict()
    data["error"]["fields"].update({"_secret": 1, "__class__": "str", "not a name": 2})
    error = ExecuteResult.from_dict(data).error
    assert type(error) is ExecutionError and error.prompt_id == "p"
    assert not {"_secret", "not a name"} & set(vars(error))
