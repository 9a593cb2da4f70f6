"""Errors of the check, package and deploy tools. Each message names what to fix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One violation in a function's config.json: file, field, value and what is allowed."""

    file: str
    field: str
    value: object
    allowed: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field} = {self.value!r}: allowed {self.allowed}"


class DeployToolError(Exception):
    """Base class of check, package and deploy failures."""


class ManifestError(DeployToolError):
    """A function folder or its config.json cannot be read, for the reasons in ``problems``."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class PackageError(DeployToolError):
    """The deployable zip could not be built or is over SCF's size limits."""


class DeployError(DeployToolError):
    """An SCF API call failed or the function did not reach a usable state."""

    def __init__(self, message: str, action: str | None = None, code: str | None = None) -> None:
        self.action = action
        self.code = code
        super().__init__(message)
