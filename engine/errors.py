"""Errors the engine reports to people.

`EngineError` carries a one-line message that names the problem and the fix; `Cancelled` ends a job on request.
"""


class EngineError(Exception):
    """A problem with the user's input or machine, described so the user can fix it."""


class Cancelled(Exception):
    """The job was cancelled by the user (the progress callback raised it)."""
