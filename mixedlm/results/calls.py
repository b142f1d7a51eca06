"""The front ends by name, so that a fit's recorded call can be run again (``update``, ``drop1``).

``lmer``, ``glmer`` and ``glmer_nb`` register themselves when their modules are
imported (the package's ``__init__`` imports them, so they are registered whenever
mixedlm is); a fit records ``call = {"function": "lmer", ...}`` and the inference layer
reruns it through :func:`front_end` without importing the front ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mixedlm.errors import MixedLMError

_FRONT_ENDS: dict[str, Callable[..., Any]] = {}


def register_front_end(name: str, function: Callable[..., Any]) -> None:
    """Make ``function`` the front end called ``name`` in recorded calls."""
    _FRONT_ENDS[name] = function


def front_end(name: str) -> Callable[..., Any]:
    """The registered front end ``name`` (``"lmer"``, ``"glmer"``, ``"glmer_nb"``)."""
    if name not in _FRONT_ENDS:
        raise MixedLMError(f"no front end named {name!r} (known: {', '.join(sorted(_FRONT_ENDS))})")
    return _FRONT_ENDS[name]
