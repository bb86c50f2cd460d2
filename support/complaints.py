"""What staff do to complaints the agent filed."""

from __future__ import annotations

from collections.abc import Iterable

from support.models import Complaint, ComplaintStatus


def resolve_complaints(complaint_ids: Iterable[str]) -> int:
    """Mark these complaints resolved; answer how many changed (already resolved ones don't).

    One conditional update: a complaint resolved meanwhile by someone else is not counted twice.
    """
    return (
        Complaint.objects.filter(complaint_id__in=list(complaint_ids))
        .exclude(status=ComplaintStatus.RESOLVED)
        .update(status=ComplaintStatus.RESOLVED)
    )


def review_complaints(complaint_ids: Iterable[str]) -> int:
    """Move open complaints to `in_review`; answer how many changed."""
    return Complaint.objects.filter(
        complaint_id__in=list(complaint_ids), status=ComplaintStatus.OPEN
    ).update(status=ComplaintStatus.IN_REVIEW)
