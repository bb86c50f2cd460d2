"""The agent's system instruction: an editable template with the customer's first name in it.

Support leads can change the persona by editing templates/realtime/agent_instructions.txt;
the next call picks the change up (Django caches templates only when DEBUG is off and the
cached loader is on, in which case a restart applies it).
"""

from __future__ import annotations

from django.template.loader import render_to_string

TEMPLATE = "realtime/agent_instructions.txt"


def system_instruction(first_name: str | None) -> str:
    return render_to_string(TEMPLATE, {"first_name": first_name or ""}).strip()
