"""Argument types shared by the ``keval`` and ``kbuild`` command lines: a bad number is refused by
the parser, with the option's name, before anything is loaded or written."""

from __future__ import annotations

import argparse


def int_at_least(lo: int):
    """An argparse ``type`` for integers >= ``lo`` (``--limit 0`` and ``--limit -1`` are refused)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got '{text}'") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be at least {lo}, got {value}")
        return value

    parse.__name__ = f"integer >= {lo}"
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Examples kept as written; every option's default shown where it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or action.default in (None, False, [], argparse.SUPPRESS) or not action.option_strings:
            return text
        return text + " (default: %(default)s)"
