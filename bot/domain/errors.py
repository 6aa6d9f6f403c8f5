"""The one error tree of mlgov.

Every error a user can cause derives from :class:`MlgovError` and carries a message
written for that user. The edges (Slack listeners, the shell, the CLI, the HTTP API)
catch ``MlgovError`` and show ``str(error)``; anything else is a bug and is logged.

    MlgovError
    ├── UsageError            the command line could not be understood (carries usage)
    ├── ValidationError       a value is out of range or malformed
    ├── NotFound              a project, experiment or member does not exist
    ├── AlreadyExists         creating something that is already there
    ├── PermissionDenied      the actor may not do this
    ├── InvalidTransition     the lifecycle does not allow this step now
    ├── WipLimitExceeded      starting would exceed a work-in-progress limit
    ├── GateClosed            engineering may not be scheduled yet (lists every reason)
    ├── ConcurrentUpdate      someone else changed the record meanwhile
    ├── ConfigError           settings are missing or invalid
    ├── MlflowError           MLflow refused a request (carries MLflow's error_code)
    │   └── MlflowUnavailable MLflow could not be reached or failed, after retries
    └── StorageError          the database failed or its schema is out of date
        └── SchemaOutOfDate
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class MlgovError(Exception):
    """Base of every error mlgov reports to a user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled whole (subclasses take more than the message): an error raised while
        # computing in a child process reaches the user as it was (bot/services/computing.py).
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[MlgovError], args: tuple[Any, ...], state: dict[str, Any]) -> MlgovError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class UsageError(MlgovError):
    """The command could not be parsed; ``usage`` shows the right form."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage

    def __str__(self) -> str:
        return f"{self.message}\nUsage: {self.usage}" if self.usage else self.message


class ValidationError(MlgovError):
    """A value is malformed or out of range."""


class NotFound(MlgovError):
    """The thing named does not exist (in this workspace)."""


class AlreadyExists(MlgovError):
    """The thing to create exists already."""


class PermissionDenied(MlgovError):
    """The actor lacks the role this needs."""


class InvalidTransition(MlgovError):
    """The lifecycle refuses the step; ``allowed`` lists what may happen next."""

    def __init__(self, message: str, allowed: Sequence[str]) -> None:
        steps = ", ".join(allowed) if allowed else "none (this is a final state)"
        super().__init__(f"{message} Allowed next steps: {steps}.")
        self.allowed = tuple(allowed)


class WipLimitExceeded(MlgovError):
    """Starting this would exceed a work-in-progress limit."""

    def __init__(self, message: str, in_flight: Sequence[str]) -> None:
        listing = "\n".join(f"• {line}" for line in in_flight)
        super().__init__(f"{message}\nIn flight:\n{listing}" if listing else message)
        self.in_flight = tuple(in_flight)


class GateClosed(MlgovError):
    """The review gate refuses; ``unmet`` lists every condition not met."""

    def __init__(self, message: str, unmet: Sequence[str]) -> None:
        listing = "\n".join(f"• {line}" for line in unmet)
        super().__init__(f"{message}\n{listing}")
        self.unmet = tuple(unmet)


class ConcurrentUpdate(MlgovError):
    """The record changed between reading and writing it."""


class ConfigError(MlgovError):
    """Settings are missing or invalid."""


class MlflowError(MlgovError):
    """MLflow answered a request with an error; ``error_code`` is MLflow's own."""

    def __init__(self, message: str, error_code: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.status = status


class MlflowUnavailable(MlflowError):
    """MLflow could not be reached, timed out or failed (5xx), after the retries."""


class StorageError(MlgovError):
    """The database failed in a way the user should hear about."""


class SchemaOutOfDate(StorageError):
    """The database schema is older (or newer) than this code."""
