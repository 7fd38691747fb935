"""The frontend's text rewriting at queue time: dynamic prompts and ``%Node.widget%``.

* A widget whose spec has ``dynamicPrompts`` sends its text with C-style comments stripped and
  each ``{a|b|c}`` group replaced by one random choice (nested groups allowed, ``\\{`` escapes).
  The choice comes from the caller's ``random.Random`` so a conversion can be reproduced.
* ``filename_prefix`` of save nodes, and a PrimitiveNode with "Run widget replace on values",
  replace ``%Title.widget%`` with that widget's value and ``%date:yyyy-MM-dd%`` with the date.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import datetime

_COMMENTS = re.compile(r"/\*[\s\S]*?\*/|//.*")
_UNESCAPE = re.compile(r"\\([{}|])")
_REPLACEMENT = re.compile(r"%([^%]+)%")
_DATE_TOKENS = re.compile(r"dd?|MM?|hh?|mm?|ss?|yyy?y?")
_FILENAME_UNSAFE = re.compile(r'[/?<>\\:*|"\x00-\x1F\x7F]')


def process_dynamic_prompt(text: str, rng: random.Random) -> str:
    """Resolve ``{a|b}`` choices and strip comments, as the frontend's DynamicPrompts does."""
    return _UNESCAPE.sub(r"\1", _expand(_COMMENTS.sub("", text), rng))


def _expand(text: str, rng: random.Random) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        i += 1
        if char == "\\":
            out.append("\\" + (text[i] if i < len(text) else "undefined"))
            i += 1
        elif char == "{":
            chosen, i = _choice(text, i, rng)
            out.append(process_dynamic_prompt(chosen, rng))
        else:
            out.append(char)
    return "".join(out)


def _choice(text: str, i: int, rng: random.Random) -> tuple[str, int]:
    """Parse the group starting after ``{`` at ``i``; return one option and the end index."""
    options: list[str] = []
    choice: list[str] = []
    depth = 0
    while i < len(text):
        char = text[i]
        i += 1
        if char == "\\":
            choice.append("\\" + (text[i] if i < len(text) else "undefined"))
            i += 1
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            if not depth:
                break
            depth -= 1
        elif char == "|" and not depth:
            options.append("".join(choice))
            choice = []
            continue
        choice.append(char)
    options.append("".join(choice))
    return options[int(rng.random() * len(options))], i


#: Looks ``Node.widget`` up: ``(True, value)``, or ``(False, None)`` when nothing matches.
WidgetLookup = Callable[[str, str], "tuple[bool, object]"]


def apply_text_replacements(text: str, lookup: WidgetLookup, now: Callable[[], datetime]) -> str:
    """Replace ``%Node.widget%`` and ``%date:FORMAT%`` like the frontend's search & replace."""

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        parts = inner.split(".")
        if len(parts) != 2:
            if parts[0].startswith("date:"):
                return format_date(parts[0][5:], now())
            return match.group(0)
        found, value = lookup(parts[0], parts[1])
        if not found:
            return match.group(0)
        return _FILENAME_UNSAFE.sub("_", "" if value is None else js_string(value))

    return _REPLACEMENT.sub(replace, text)


def format_date(pattern: str, when: datetime) -> str:
    """The frontend's small date formatter (``yyyy``, ``yy``, ``MM``, ``dd``, ``hh``, ``mm``,
    ``ss`` and their one-letter forms)."""
    parts = {"d": when.day, "M": when.month, "h": when.hour, "m": when.minute, "s": when.second}

    def token(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "yy":
            return str(when.year)[2:]
        if text == "yyyy":
            return str(when.year)
        if text[0] in parts:
            return str(parts[text[0]]).rjust(len(text), "0")
        return text

    return _DATE_TOKENS.sub(token, pattern)


def js_string(value: object) -> str:
    """``String(value)`` as JavaScript writes the values widgets hold."""
    if value is None:
        return "undefined"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
