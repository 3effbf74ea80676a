"""Errors the engine reports to people.

`EngineError` carries a one-line message that names the problem and the fix (`OutOfMemory` when no device had
room for the job); `Cancelled` ends a job on request.
"""


class EngineError(Exception):
    """A problem with the user's input or machine, described so the user can fix it."""


class Cancelled(Exception):
    """The job was cancelled by the user (the progress callback raised it)."""


class OutOfMemory(EngineError):
    """Every way of running the job within the machine's memory failed; the message names what to change."""
