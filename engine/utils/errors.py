"""One exception type for every mistake a user can make in their input.

The scheduler catches :class:`EngineError` at the top, prints its message once (no
traceback: the message already says what, where and what to do) and exits non-zero.
Anything else escaping the engine is a bug and keeps its traceback.
"""

EXIT_BAD_INPUT = 2  # the exit status of a run or a tool ended by an EngineError


class EngineError(Exception):
    """Bad input: a config, a file, a name, a device request, a loss value."""


class ConfigError(EngineError):
    """A config file or command-line override is wrong."""
