"""The background-thread lifecycle shared by the fake servers (public: build yours on it).

A :class:`BackgroundServer` runs its own asyncio loop in a daemon thread:
:meth:`~BackgroundServer.start` returns once the subclass's ``startup()``
coroutine (e.g. binding aiohttp runners) has finished in that loop, and
:meth:`~BackgroundServer.stop` runs ``shutdown()`` there, then stops the loop
and joins the thread; :meth:`~BackgroundServer.run_coroutine` runs any other
coroutine there from the test's thread. This module imports no aiohttp.

:func:`cli_parser` and :meth:`~BackgroundServer.serve_until_signalled` are the
scaffold of the fakes' ``python -m`` entry points.

:meth:`~BackgroundServer.freeze` blocks the loop, as a paused (``SIGSTOP``) or overloaded server
is: the kernel still accepts TCP connections, but no request is read or answered, open
WebSockets fall silent (no frame, no pong) and nothing runs until :meth:`~BackgroundServer.resume`.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, ClassVar, TypeVar

STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 10.0

_S = TypeVar("_S", bound="BackgroundServer")
_T = TypeVar("_T")


class BackgroundServer(abc.ABC):
    """Serve from an asyncio loop in a daemon thread; startable once, stoppable repeatedly.

    ``name`` (e.g. ``"ComfyUI"``) names the thread (``fake-comfyui``) and the
    errors (``fake ComfyUI did not start in time``).
    """

    name: ClassVar[str]

    def __init__(self) -> None:
        self.__loop: asyncio.AbstractEventLoop | None = None
        self.__thread: threading.Thread | None = None
        self.__startup_error: BaseException | None = None
        self.__stopped = False
        self.__freeze_lock = threading.Lock()
        self.__resume: threading.Event | None = None  # set while frozen

    @abc.abstractmethod
    async def startup(self) -> None:
        """Start listening (runs in the server loop); raising fails :meth:`start`."""

    @abc.abstractmethod
    async def shutdown(self) -> None:
        """Close the sockets and cancel work (runs in the server loop)."""

    def run_coroutine(self, coroutine: Coroutine[Any, Any, _T], timeout: float = 10.0) -> _T:
        """Run ``coroutine`` in the server loop and return its result (waits ``timeout`` s)."""
        if self.__loop is None or self.__stopped:
            coroutine.close()
            raise RuntimeError(f"the fake {self.name} is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, self.__loop).result(timeout)

    def start(self: _S) -> _S:
        """Start serving in a daemon thread; returns once the server is listening."""
        if self.__thread is not None or self.__stopped:
            raise RuntimeError(f"a {type(self).__name__} can only be started once")
        ready = threading.Event()
        self.__thread = threading.Thread(
            target=self.__serve, args=(ready,), name=f"fake-{self.name.lower()}", daemon=True
        )
        self.__thread.start()
        if not ready.wait(STARTUP_TIMEOUT):
            raise RuntimeError(f"fake {self.name} did not start in time")
        if self.__startup_error is not None:
            self.__thread.join(SHUTDOWN_TIMEOUT)
            raise RuntimeError(f"fake {self.name} failed to start") from self.__startup_error
        return self

    def freeze(self, seconds: float | None = None) -> None:
        """Stop answering anything until :meth:`resume` (or for ``seconds``); returns once frozen.

        Connections are still accepted by the kernel (the listening socket stays open); requests
        and WebSocket frames wait, unread, and are handled after the resume. Freezing a frozen
        server does nothing.
        """
        loop, thread = self.__loop, self.__thread
        if loop is None or self.__stopped or thread is None or not thread.is_alive():
            raise RuntimeError(f"the fake {self.name} is not running")
        if thread is threading.current_thread():
            raise RuntimeError("freeze() must be called from outside the server's thread")
        with self.__freeze_lock:
            if self.__resume is not None:
                return
            resume = self.__resume = threading.Event()
        frozen = threading.Event()

        def block() -> None:
            frozen.set()
            resume.wait(seconds)
            with self.__freeze_lock:
                if self.__resume is resume:
                    self.__resume = None

        loop.call_soon_threadsafe(block)
        if not frozen.wait(STARTUP_TIMEOUT):
            raise RuntimeError(f"fake {self.name} did not freeze in time")

    def resume(self) -> None:
        """Answer again (what waited is handled now); does nothing if not frozen."""
        with self.__freeze_lock:
            resume, self.__resume = self.__resume, None
        if resume is not None:
            resume.set()

    @contextmanager
    def frozen(self, seconds: float | None = None) -> Iterator[None]:
        """``with server.frozen(): ...`` -- :meth:`freeze` for the block, then :meth:`resume`."""
        self.freeze(seconds)
        try:
            yield
        finally:
            self.resume()

    def stop(self) -> None:
        """Stop serving and close the sockets (resuming a frozen server first). Idempotent."""
        if self.__stopped:
            return
        self.resume()
        self.__stopped = True
        loop, thread = self.__loop, self.__thread
        if loop is not None and thread is not None and thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self.shutdown(), loop)
            try:
                future.result(SHUTDOWN_TIMEOUT)
            except Exception:  # a failed or slow shutdown must not keep the caller waiting
                logging.getLogger(type(self).__module__).exception(
                    "fake %s shutdown failed", self.name
                )
            loop.call_soon_threadsafe(loop.stop)
            thread.join(SHUTDOWN_TIMEOUT)

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def serve_until_signalled(self, announce: Callable[[], None]) -> None:
        """Serve in the foreground until SIGINT/SIGTERM; ``announce()`` runs once listening."""
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        with self:
            announce()
            stop.wait()

    def __serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self.__loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.startup())
        except BaseException as ex:  # reported to start() in the calling thread
            self.__startup_error = ex
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


def cli_parser(module: str, description: str) -> argparse.ArgumentParser:
    """The ``python -m module`` argument parser with the ``--host``/``--port`` options."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    return parser
