"""A message's words, written once, with emphasis marked by meaning rather than by markup, so
that every channel says the same thing and only styles it its own way (Telegram: escaped HTML,
``control.format.html``; the terminal and the outbox's ``text`` column: ``plain`` here).

A message is a list of lines; a line is a list of spans; a span is a ``str`` (plain words) or a
``Span`` with a style: ``strong`` (a heading, the figure that matters) or ``em`` (an aside)."""

from __future__ import annotations

from typing import NamedTuple


class Span(NamedTuple):
    text: str
    style: str  # "strong" or "em"


def strong(text: object) -> Span:
    return Span(str(text), "strong")


def em(text: object) -> Span:
    return Span(str(text), "em")


Line = list["str | Span"]


def words(span: str | Span) -> str:
    return span if isinstance(span, str) else span.text


def plain(lines: list[Line]) -> str:
    """The message as plain text: the words, without their styles."""
    return "\n".join("".join(words(s) for s in line) for line in lines)


__all__ = ["Line", "Span", "em", "plain", "strong", "words"]
