"""The errors coordxl raises; the CLI turns each into a clean message and an exit code."""


class CoordxlError(Exception):
    """Something the user can fix; the message says how."""

    exit_code = 1


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
