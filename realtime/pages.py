"""`GET /`: the customer's voice page (templates/voice/index.html, static/voice/).

The page is static apart from what it must know before a call: whether the agent is
configured, and in demo mode which customers can be picked. Everything else (the microphone,
the WebSocket, the call state) lives in static/voice/ (app.js and the modules it imports). The
page's strict Content-Security-Policy (no inline script or style, WebSockets to this host
only) comes from voiceproject/csp.py, like every page's.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from support import mongo
from support.policy import lifetime_spend_pipeline, tier_for, tier_from_document

# The picker is for trying the agent out, not a customer directory: the first few are enough.
DEMO_CUSTOMER_LIMIT = 50


@dataclass(frozen=True)
class DemoCustomer:
    user_id: int
    name: str
    tier: str


def demo_customers(limit: int = DEMO_CUSTOMER_LIMIT) -> list[DemoCustomer]:
    """The first customers by user_id, each with the tier their lifetime spend earns.

    Three queries whatever the number of customers: the customers, one aggregation of their
    spend (the same rule as `support.policy.lifetime_spend`), and the tiers.
    """
    db = mongo.sync_db()
    customers = list(
        db.customers.find({}, {"_id": 0, "user_id": 1, "name": 1}).sort("user_id", 1).limit(limit)
    )
    if not customers:
        return []
    ids = [doc["user_id"] for doc in customers]
    spend = {
        row["_id"]: int(row["spend"]) for row in db.orders.aggregate(lifetime_spend_pipeline(ids))
    }
    tiers = [tier_from_document(doc) for doc in db.refund_tiers.find({}, {"_id": 0})]
    result = []
    for doc in customers:
        tier = tier_for(spend.get(doc["user_id"], 0), tiers)
        name = str(doc.get("name") or "")
        result.append(DemoCustomer(doc["user_id"], name, tier.name if tier else ""))
    return result


def recording_notice() -> str:
    """What the page tells a caller when calls are recorded (RECORD_CALLS), or ""; the agent
    says it too, in its first words (realtime/instructions.py: disclosure)."""
    if not settings.RECORD_CALLS:
        return ""
    days = settings.RECORDING_RETENTION_DAYS
    return (f"{settings.VOICE_RECORDING_NOTICE} Recordings help our team check how we helped "
            f"you, and are deleted after {days} day{'s' if days != 1 else ''}.")  # fmt: skip


@require_GET
def voice_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "voice/index.html",
        {
            "agent_configured": bool(settings.GEMINI_API_KEY),
            "debug_hint": settings.DEBUG,
            "demo_mode": settings.VOICE_DEMO_MODE,
            "customers": demo_customers() if settings.VOICE_DEMO_MODE else [],
            "recording_notice": recording_notice(),
            # The page tries to get back to a dropped call for as long as the server keeps it.
            "resume_grace_s": settings.VOICE_RESUME_GRACE_S,
        },
    )
