"""The one interface every reasoning backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from cloud_reasoner.query import Advice, ReasonQuery


class BackendError(RuntimeError):
    """The backend could not produce valid advice (unreachable, malformed or late output). The
    service answers with its fallback backend or UNAVAILABLE; the output is never passed on."""


class Backend(ABC):
    #: shown in ReasonResponse.backend
    name: str = "backend"
    #: True when reason() may wait on I/O: the server then runs it in a worker thread, not on its event loop
    blocking: bool = False

    @abstractmethod
    def reason(self, query: ReasonQuery, timeout_s: float) -> Advice:
        """Advice for a validated query within timeout_s seconds, or raise BackendError."""

    def close(self) -> None:  # noqa: B027  (optional hook)
        pass


def make_backend(kind: str, config) -> Backend:
    """Backend by config name: "deliberative" or "openai" (config: cloud_reasoner.config.CloudConfig)."""
    if kind == "deliberative":
        from cloud_reasoner.backends.deliberative import DeliberativeBackend

        return DeliberativeBackend()
    if kind == "openai":
        from cloud_reasoner.backends.openai_chat import OpenAIChatBackend

        return OpenAIChatBackend(
            base_url=config.openai.base_url,
            model=config.openai.model,
            api_key=config.openai.api_key,
            temperature=config.openai.temperature,
        )
    raise ValueError(f"unknown backend {kind!r} (valid: deliberative, openai)")
