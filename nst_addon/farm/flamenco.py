"""The Flamenco Manager's side of Submit to Farm: POST the job to {manager}/api/v3/jobs and turn every way that can
fail into one line for the user. No bpy here."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

FLAMENCO_JOB_TYPE = "nst-stylize"
HTTP_TIMEOUT_S = 10.0


def submit_to_flamenco(manager_url: str, body: dict) -> str:
    """POSTs the job to the Manager; returns the new job's id. Raises ValueError with a message for the user."""
    url = manager_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"the Manager URL '{manager_url}' must start with http:// or https://")
    request = urllib.request.Request(f"{url}/api/v3/jobs", data=json.dumps(body).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            answer = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise ValueError(f"the Flamenco Manager refused the job (HTTP {exc.code}): {_error_text(exc)}"
                         + (f"; is {FLAMENCO_JOB_TYPE} installed? copy farm/flamenco/nst_stylize.js into the "
                            "Manager's scripts/ folder and restart it" if exc.code in (400, 404, 412) else "")
                         ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            raise ValueError(f"the Flamenco Manager at {url} did not answer within {HTTP_TIMEOUT_S:g} s; check "
                             "that it is running and reachable") from None
        raise ValueError(f"cannot reach the Flamenco Manager at {url} ({reason}); check the URL and that the "
                         "Manager is running") from None
    except json.JSONDecodeError:
        raise ValueError(f"{url} answered, but not as a Flamenco Manager (no JSON); check the URL") from None
    return str(answer.get("id", "?"))


def _error_text(exc: urllib.error.HTTPError) -> str:
    text = exc.read().decode("utf-8", "replace")
    try:
        return str(json.loads(text).get("message", text))
    except (json.JSONDecodeError, AttributeError):
        return text.strip()[:300] or str(exc.reason)
