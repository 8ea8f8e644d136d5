"""The translator: a message in one of the gateway's languages, placeholders filled.

Messages live in `messages/<lang>/*.toml` (data, not code; one file per
area: pages, mail...); every language has every key (a test checks).
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

LANGUAGES = ("en", "fi", "sv")
DEFAULT = "en"
_FOLDER = Path(__file__).parent / "messages"


@cache
def catalog(lang: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted((_FOLDER / lang).glob("*.toml")):
        with path.open("rb") as file:
            merged.update(tomllib.load(file))
    return merged


class Translator:
    """`t("key", part="Part II")`: the message in this language, placeholders filled."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT
        self.messages = catalog(self.lang)

    def __call__(self, key: str, **params: object) -> str:
        text = self.messages.get(key) or catalog(DEFAULT)[key]
        return text.format(**params) if params else text


def from_accept_language(header: str) -> str | None:
    """The first supported language in an Accept-Language header, by quality."""
    choices: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        base = tag.strip().lower().split("-")[0]
        if base in LANGUAGES and quality > 0:
            choices.append((-quality, index, base))
    return min(choices)[2] if choices else None
