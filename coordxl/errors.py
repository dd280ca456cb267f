"""The errors coordxl raises; the CLI turns each into a clean message and an exit code."""


from .messages import text


class CoordxlError(Exception):
    """Something the user can fix; the message says how.

    Raised with ``key`` (and the values its text needs), the message comes from the message table:
    in English as ``str()`` (logs), in the folder's language through :meth:`say` (what the CLI prints).
    """

    exit_code = 1

    def __init__(self, message: str = "", *, key: str = "", **values: object):
        self.key, self.values = key, values
        super().__init__(message or (text(key, "en", **values) if key else ""))

    def say(self, lang: str) -> str:
        """The message in ``lang`` (zh or en)."""
        return text(self.key, lang, **self.values) if self.key else str(self)


class ConfigError(CoordxlError):
    """The settings or the command line are wrong."""

    exit_code = 2


class FolderError(CoordxlError):
    """The shared folder is missing, incomplete, or would be overwritten."""

    exit_code = 2


class RosterError(CoordxlError):
    """A name is not in the roster, or the roster cannot be read."""

    exit_code = 2


class StateError(CoordxlError):
    """The folder's state (.coordxl/: state.db, lock files) cannot be used as it is; the message says what to do."""

    exit_code = 2
