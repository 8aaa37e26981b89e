"""Every error a user can cause, and the hint that tells them what to do next.

The CLI and the dashboard catch :class:`ModerationError` at their boundary and show
``str(error)``, which always ends with the fix. Nothing below the boundary swallows errors.

    ModerationError
    ├── InputError                 a dump file cannot be read as asked
    │   ├── UnknownFormatError     --format auto could not tell what the file is
    │   ├── MissingColumnError     no text column (lists the columns that exist)
    │   ├── EmptyInputError        the file holds no rows at all
    │   └── InputTooLargeError     decompression or size limit hit (bombs)
    ├── OutputError                the output path is unusable or unsafe
    ├── ModelError                 a model cannot be found, verified or loaded
    │   └── ModelIntegrityError    a file's sha256 does not match its card
    ├── StoreError                 the database cannot be used as asked
    │   ├── ConflictError          a moderator acted on a stale version of a comment
    │   └── PermissionDeniedError  the user's role does not allow the action
    ├── GateError                  a candidate model is worse than the active one
    └── JobError                   a background training job cannot start (one is running)
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ConflictError",
    "EmptyInputError",
    "GateError",
    "InputError",
    "InputTooLargeError",
    "JobError",
    "MissingColumnError",
    "ModelError",
    "ModelIntegrityError",
    "ModerationError",
    "OutputError",
    "PermissionDeniedError",
    "StoreError",
    "UnknownFormatError",
]


class ModerationError(Exception):
    """Base of every error the user can cause; ``hint`` says how to fix it."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class InputError(ModerationError):
    """A dump file cannot be read; names the file and, where known, the line or record."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        record: int | None = None,
        hint: str = "",
    ) -> None:
        where = ""
        if path is not None:
            where = str(path)
            if record is not None:
                where += f", record {record}"
            where += ": "
        super().__init__(where + message, hint=hint)
        self.path = None if path is None else str(path)
        self.record = record


class UnknownFormatError(InputError):
    pass


class MissingColumnError(InputError):
    pass


class EmptyInputError(InputError):
    pass


class InputTooLargeError(InputError):
    pass


class OutputError(ModerationError):
    pass


class ModelError(ModerationError):
    pass


class ModelIntegrityError(ModelError):
    pass


class StoreError(ModerationError):
    pass


class ConflictError(StoreError):
    """Raised when a write is based on a stale version; names who changed the comment."""

    def __init__(self, message: str, *, changed_by: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.changed_by = changed_by


class PermissionDeniedError(StoreError):
    pass


class GateError(ModerationError):
    pass


class JobError(ModerationError):
    pass
