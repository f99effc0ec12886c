"""EventBridge's input transformer, for the targets the local cloud delivers itself.

moto renders a transformer by plain text replacement (a string placed outside quotes breaks the
JSON; a missing path leaves ``<name>`` in place) and writes a log group target's transformed
event, JSON-encoded, as the log message. EventBridge does neither: a placeholder inside a JSON
string is replaced by the value's text, unescaped (EventBridge documents that it does not escape
extracted values, so a value with a quote breaks the JSON and the delivery fails); one outside
by the value as JSON (a string gets its quotes); a path the event lacks gives nothing (an empty
text, or ``null`` outside a string); and a CloudWatch Logs target takes ``{"timestamp": ...,
"message": "<a string>"}`` as the record's time and text. Only the documented path syntax is
supported: dot notation from ``$``, keys with dashes and underscores.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_PATH = re.compile(r"\$(\.[A-Za-z0-9_\-]+)+")


def value_at(event: dict[str, Any], path: str) -> Any:
    """The value at ``path`` (``$.detail.metadata.type``), or None when it is absent."""
    if not _PATH.fullmatch(path):
        raise ValueError(f"local cloud: unsupported input path {path!r} (dot notation only)")
    value: Any = event
    for key in path[2:].split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


INGESTION_TIME = "aws.events.event.ingestion-time"


def render(transformer: dict[str, Any], event: dict[str, Any], *, ingested_at: datetime) -> Any:
    """What the target receives: ``InputTemplate`` with every ``<name>`` of ``InputPathsMap``
    (and the predefined ``<aws.events.event.ingestion-time>``) filled in from ``event``, parsed
    as JSON."""
    values = {
        name: value_at(event, path) for name, path in transformer.get("InputPathsMap", {}).items()
    }
    values[INGESTION_TIME] = ingested_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    template: str = transformer["InputTemplate"]
    out: list[str] = []
    in_string = False
    position = 0
    while position < len(template):
        char = template[position]
        found = _PLACEHOLDER.match(template, position) if char == "<" else None
        if found and found.group(1) in values:
            value = values[found.group(1)]
            if in_string:
                out.append(
                    "" if value is None else value if isinstance(value, str) else json.dumps(value)
                )
            else:
                out.append(json.dumps(value))
            position = found.end()
            continue
        if char == '"' and (position == 0 or template[position - 1] != "\\"):
            in_string = not in_string
        out.append(char)
        position += 1
    rendered = "".join(out)
    try:
        return json.loads(rendered)
    except json.JSONDecodeError as err:
        raise ValueError(f"the input template rendered invalid JSON ({err}): {rendered}") from None


def log_record(rendered: Any) -> tuple[int, str]:
    """A CloudWatch Logs target's record (milliseconds, message) from a rendered template,
    which must be ``{"timestamp": <ISO 8601 time>, "message": <string>}``."""
    if (
        not isinstance(rendered, dict)
        or set(rendered) != {"timestamp", "message"}
        or not isinstance(rendered["message"], str)
    ):
        raise ValueError(
            'a CloudWatch Logs target\'s input template must render {"timestamp": <time>, '
            f'"message": <a string>}}, not {rendered!r}'
        )
    stamp = datetime.fromisoformat(str(rendered["timestamp"]).replace("Z", "+00:00"))
    return int(stamp.timestamp() * 1000), rendered["message"]
