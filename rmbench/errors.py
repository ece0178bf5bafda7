"""Errors the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: unknown names, malformed files, bad options.

    The CLI prints ``rmbench: error: <message>`` and exits with code 2; the traceback is shown
    only with ``--debug``.
    """

    exit_code = 2


class MissingExtraError(UserError):
    """An optional dependency group is not installed."""

    def __init__(self, extra: str, what: str):
        super().__init__(f"{what} needs the '{extra}' extra: pip install 'rmbench[{extra}]'")


def import_extra(module: str, extra: str, what: str):
    """``module`` imported, or a one-line error naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(extra, what) from None


class RowError(UserError):
    """A problem with one data row. Schema modules raise it without saying where the row is;
    the loader adds the file and the row number (``task 'rmb': Pairwise_set/Harmlessness/S1.json
    row 0: column 'chosen' must be an {llm_name, answer} object``)."""
