"""Masking of personal data and secrets in text: one redactor for logs and dead-letter headers.

The redactor masks e-mail addresses, phone-number-like digit runs, the values of credential
keys (``Authorization``, ``X-AUTH-APIKEY``, ``api_key``, ``password``, ``client_key``, ...),
Basic and Bearer tokens, and every secret registered with `register_secret` (the config loader
registers each secret it resolves). It sits below both `bridge.secrets` and `bridge.logs`, so
neither needs the other.
"""

from __future__ import annotations

import re
import threading
from typing import Final

MASK: Final = "***"
MIN_SECRET_CHARS: Final = 4
"""Shorter registered secrets are ignored: masking every 'abc' would garble the logs, and a
secret that short protects nothing anyway."""

_KEY_VALUE: Final = re.compile(
    r"(?P<key>(?i:x-auth-apikey|authorization|api[_-]?key|passw(?:or)?d"
    r"|client[_-]?(?:key|secret))\b)"
    # `key=value`, `key: value`, `"key": "value"`, `'key': 'value'`, and JSON escaped once.
    r"(?P<sep>(?:\\?[\"'])?\s*[:=]\s*)"
    r"(?P<value>\\?\"[^\"\\]*(?:\\?\")|'[^']*'"
    r"|(?:(?i:basic|bearer)\s+)?[^\s\"',;&)}\]\\]+)"
)
_NOTHING: Final = re.compile(r"(?!)")
_QUOTE: Final = re.compile(r"^\\?[\"']?")
# A token must hold a capital or a digit, so prose such as "basic validation" stays readable.
_AUTH_TOKEN: Final = re.compile(
    r"(?P<scheme>\b(?i:basic|bearer))\s+(?=[\w.~+/-]*[A-Z0-9])[\w.~+/-]{6,}=*"
)
_EMAIL: Final = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
# 7+ digits with an optional leading + and single spaces or dashes between them; not part of
# a word, a decimal number, a UUID or an ISO date.
_PHONE: Final = re.compile(r"(?<![\w.+-])(?!\d{4}-\d\d-\d\d)\+?\d(?:[ -]?\d){6,}(?!\w|\.\d)")
# A much cheaper scan that every phone number matches; most lines with digits fail it.
_SEVEN_DIGITS: Final = re.compile(r"\d[ -]?\d[ -]?\d[ -]?\d[ -]?\d[ -]?\d[ -]?\d")


def _names_a_credential(lower: str) -> bool:
    # Substrings of every key `_KEY_VALUE` knows; four `in` tests cost less than its search.
    return "auth" in lower or "api" in lower or "passw" in lower or "client" in lower


def _mask_value(match: re.Match[str]) -> str:
    quote = _QUOTE.match(match["value"])
    opening = quote.group() if quote else ""
    return f"{match['key']}{match['sep']}{opening}{MASK}{opening}"


def _mask_token(match: re.Match[str]) -> str:
    return f"{match['scheme']} {MASK}"


class Redactor:
    """Masks personal data and secrets in text.

    Each pattern runs only when the text holds what that pattern cannot match without (``@``
    for an e-mail, a run of seven digits for a phone number, a credential word next to ``:``
    or ``=``, a registered secret), so a typical line pays a few substring tests and at most
    one cheap scan, not five regex passes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Replaced whole, never mutated: `redact` reads it from any thread without the lock.
        self._secrets: tuple[tuple[str, ...], re.Pattern[str]] = ((), _NOTHING)

    def register(self, value: str) -> None:
        """Mask `value` wherever it appears from now on (called for each resolved secret)."""
        if len(value) < MIN_SECRET_CHARS:
            return
        with self._lock:
            # Longest first, so a secret containing another is masked whole.
            values = tuple(sorted({*self._secrets[0], value}, key=len, reverse=True))
            self._secrets = (values, re.compile("|".join(map(re.escape, values))))

    def clear(self) -> None:
        with self._lock:
            self._secrets = ((), _NOTHING)

    def redact(self, text: str) -> str:
        values, secrets = self._secrets
        for value in values:
            if value in text:
                text = secrets.sub(MASK, text)
                break
        if ("=" in text or ":" in text) and _names_a_credential(text.lower()):
            text = _KEY_VALUE.sub(_mask_value, text)
        if "earer" in text or "asic" in text or "EARER" in text or "ASIC" in text:
            text = _AUTH_TOKEN.sub(_mask_token, text)
        if "@" in text:
            text = _EMAIL.sub("<email>", text)
        if _SEVEN_DIGITS.search(text):
            text = _PHONE.sub("<phone>", text)
        return text

    def redact_value(self, value: object) -> object:
        """Redact the strings inside an `extra` value; numbers and booleans stay as they are."""
        if isinstance(value, str):
            return self.redact(value)
        if value is None or isinstance(value, int | float):
            return value
        if isinstance(value, dict):
            return {key: self.redact_value(item) for key, item in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact_value(item) for item in value]
        return self.redact(str(value))


REDACTOR: Final = Redactor()
"""The process's one redactor: the log filter and the dead-letter writer both use it."""


def register_secret(value: str) -> None:
    """Mask this secret in every log line; the config loader calls it for each secret."""
    REDACTOR.register(value)


def clear_secrets() -> None:
    """Forget every registered secret (tests; a reloaded configuration)."""
    REDACTOR.clear()


def redact(text: str) -> str:
    """The text as the log would show it."""
    return REDACTOR.redact(text)
