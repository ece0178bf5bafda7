"""The one secret-redaction policy: which names hold secrets, and how values that may carry
credentials (URLs with a user or a token in the query) are scrubbed before anything is written
to run.json, summaries, leaderboards or logs. Bottom layer: imports nothing from rmbench."""

from __future__ import annotations

import re
from typing import Any

SECRET_WORDS = ("key", "apikey", "token", "secret", "password", "passwd", "auth", "authorization", "credential",
                "credentials", "bearer", "cookie")
REDACTED = "<redacted>"


def is_secret_name(name: Any) -> bool:
    """``api_key``, ``x-api-key``, ``access_token``, ``password``: yes; ``max_tokens``: no."""
    return any(part in SECRET_WORDS for part in re.split(r"[^a-z0-9]+", str(name).lower()))


_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
# a query value ends at &, ;, #, whitespace, or a comma that starts the next URL of a list
_SECRET_QUERY = re.compile(r"(?i)([?&;][^=&;#\s]*=)(?:(?!,[a-z][a-z0-9+.-]*://)[^&;#\s])*")


def scrub_text(text: str) -> str:
    """Credentials inside a URL (``https://user:pass@host``, ``?api_key=...``) replaced."""
    text = _URL_USERINFO.sub(r"\1" + REDACTED + "@", text)
    if "://" in text:
        text = _SECRET_QUERY.sub(lambda m: m.group(1) + REDACTED if is_secret_name(m.group(1).strip("?&;="))
                                 else m.group(0), text)
    return text


def redact(value: Any) -> Any:
    """Hide values of secret-looking keys (model args) and credentials inside URLs."""
    if isinstance(value, dict):
        return {k: (REDACTED if is_secret_name(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def redact_argv(argv: list[str]) -> list[str]:
    out = []
    for arg in argv:
        parts = []
        for piece in scrub_text(arg).split(","):
            if "=" in piece and "://" not in piece and is_secret_name(piece.split("=", 1)[0]):
                piece = piece.split("=", 1)[0] + "=" + REDACTED
            parts.append(piece)
        out.append(",".join(parts))
    return out
