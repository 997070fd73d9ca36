"""Generated names, as the api-server's generateName makes them: five characters
from an alphabet without vowels (no accidental words)."""

from __future__ import annotations

import random

_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def random_suffix(n: int = 5) -> str:
    return "".join(random.choices(_CHARS, k=n))
