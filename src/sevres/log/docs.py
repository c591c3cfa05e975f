"""docs/events.md, generated from the event catalog: ``python -m sevres.log.docs``
rewrites it, and a test fails when the checked-in file differs from what this prints."""

from __future__ import annotations

import sys
from pathlib import Path

from sevres.log.events import CATALOG
from sevres.log.pipeline import CONTEXT_KEYS

HEADER = """# Events

Every line sevres logs is one of these events: a stable name to grep for, a fixed level
and a fixed message. Besides the fields listed, every line carries `time`, `level`,
`event`, `message` and, when known, {context}.

This file is generated from `src/sevres/log/events.py` by `python -m sevres.log.docs`;
do not edit it by hand.

| event | level | fields | message | meaning |
|---|---|---|---|---|
"""


def render() -> str:
    context = ", ".join(f"`{key}`" for key in CONTEXT_KEYS)
    rows = []
    for name in sorted(CATALOG):
        event = CATALOG[name]
        fields = ", ".join(f"`{f}`" for f in event.fields) or "—"
        message = event.message.replace("|", "\\|")
        rows.append(f"| `{name}` | {event.level.name} | {fields} | {message} | "
                    f"{event.meaning} |")
    return HEADER.format(context=context) + "\n".join(rows) + "\n"


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/events.md")
    target.write_text(render())


if __name__ == "__main__":
    main()
