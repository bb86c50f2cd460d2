"""The Django admin says a value as the back office does: an order's status and a complaint's
category and status in sentence case ("Out for delivery", "Food quality", "In review"), not
capitalised word by word as Django's default labels are; and a refund's percent with its %
sign, as the refund tiers list writes it."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils.html import strip_tags

from support.models import ComplaintCategory, Customer, OrderStatus, Refund, RefundTier
from support.staff.conversation import COMPLAINT_CATEGORIES, ORDER_STATUSES
from support.tests.staff.conftest import make_complaint

pytestmark = pytest.mark.django_db


def text_of(client: Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200
    return " ".join(strip_tags(response.content.decode()).split())


def test_the_order_list_says_statuses_as_the_back_office_does(
    agent: Client, asha: Customer
) -> None:
    orders = text_of(agent, "/admin/support/order/")  # asha has one on its way

    assert re.search(r"By status All Placed Being prepared Out for delivery Delivered", orders)
    assert orders.count("Out for delivery") == 2  # the filter, and ORD-1003's column
    assert "Out For Delivery" not in orders and "Preparing" not in orders


def test_the_complaint_list_says_categories_and_statuses_in_sentence_case(
    agent: Client, priya: Customer
) -> None:
    make_complaint("CMP-W1", category="food_quality", status="in_review", customer=priya)

    complaints = text_of(agent, "/admin/support/complaint/")

    assert "By status All Open In review Resolved" in complaints
    assert "By category All Food quality Late delivery Missing items Wrong order" in complaints
    assert "CMP-W1Food qualityIn review" in complaints  # its row's columns
    for title_case in ("In Review", "Food Quality", "Late Delivery", "Missing Items"):
        assert title_case not in complaints, title_case


def test_the_admin_and_the_staff_pages_take_their_words_from_one_place() -> None:
    labels = dict(ComplaintCategory.choices)
    assert labels == COMPLAINT_CATEGORIES
    # Within a sentence: "Order ORD-1003 looked up: out for delivery".
    in_a_sentence = {value: label[0].lower() + label[1:] for value, label in OrderStatus.choices}
    assert in_a_sentence == ORDER_STATUSES


def test_a_refund_s_percent_has_its_sign_in_the_list_and_on_its_page(
    agent: Client, priya: Customer
) -> None:
    refund = Refund.objects.create(refund_id="RFD-PCT001", order_id="ORD-3001", customer=priya,
                                   amount=24_000, percent=100, tier="Platinum")  # fmt: skip

    listed = text_of(agent, "/admin/support/refund/")
    page = text_of(agent, f"/admin/support/refund/{refund.pk}/change/")

    assert "₹240.00100%Platinum" in listed
    assert "Percent: 100% Tier: Platinum" in page


def test_a_refund_tier_viewed_only_reads_as_the_list_says_it(
    agent: Client, tiers: list[RefundTier]
) -> None:
    platinum = RefundTier.objects.get(name="Platinum")

    page = text_of(agent, f"/admin/support/refundtier/{platinum.pk}/change/")  # view only

    assert "Name: Platinum Lifetime spend from: ₹10,000.00 Refund: 100%" in page
    assert "Percent: 100" not in page and "1000000" not in page
