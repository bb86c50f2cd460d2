"""Captions cut into the lines of the conversation (realtime/captions.py): what the page shows as
the model transcribes each side, and what is kept as a line, when."""

from datetime import UTC, datetime, timedelta

import pytest

from realtime.captions import CAPTION_MAX_CHARS, Caption, Captions, caption_cut

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=3)


def test_a_caption_grows_with_its_fragments_and_is_kept_once_finished_dated_by_its_first() -> None:
    captions = Captions()
    assert captions.heard("agent", "Your order ", False, T0) == [
        Caption("agent", "Your order ", False)
    ]
    assert captions.heard("agent", "is on its way.", False, T1) == [
        Caption("agent", "Your order is on its way.", False)
    ]
    assert captions.heard("agent", "", True, T1) == [
        Caption("agent", "Your order is on its way.", True, T0)
    ]
    assert captions.end_all() == []  # kept once


def test_the_agent_answering_ends_the_customers_utterance_first() -> None:
    captions = Captions()
    captions.heard("user", "Where is my order?", False, T0)
    assert captions.heard("agent", "Let me look.", False, T1) == [
        Caption("user", "Where is my order?", True, T0),
        Caption("agent", "Let me look.", False),
    ]


def test_the_customer_speaking_again_does_not_end_the_agents_line() -> None:
    captions = Captions()
    captions.heard("agent", "One moment", False, T0)
    assert captions.heard("user", "ok", False, T1) == [Caption("user", "ok", False)]
    assert captions.end_all() == [
        Caption("user", "ok", True, T1),
        Caption("agent", "One moment", True, T0),
    ]


def test_whitespace_alone_is_no_line_and_does_not_date_one() -> None:
    captions = Captions()
    assert captions.heard("user", "  ", False, T0) == [Caption("user", "  ", False)]
    assert captions.heard("user", "Hello", True, T1) == [Caption("user", "Hello", True, T1)]
    assert captions.heard("agent", " ", True, T1) == []


def test_a_long_turn_goes_on_in_a_new_line_cut_at_a_sentence() -> None:
    captions = Captions()
    first = "Your refund is approved. " * 16  # 400 characters, 16 sentences
    shown = captions.heard("agent", first + "It reaches", False, T0)
    assert shown[0].finished and shown[0].text == first.strip() and shown[0].began == T0
    assert shown[1] == Caption("agent", "It reaches", False)
    assert captions.heard("agent", " you in days.", True, T1) == [
        Caption("agent", "It reaches you in days.", True, T0)
    ]


@pytest.mark.parametrize(
    ("caption", "cut"),
    [
        ("a" * 10 + ". " + "b" * 10, 11),  # no sentence in the second half: a space there
        ("a" * 5 + " " + "b" * 10 + ". " + "c" * 3, 17),  # after the sentence's full stop
        ("x" * 20, 20),  # no space at all (a script without them): all of it
        ("一" * 8 + "。" + "二" * 6, 9),  # "。" ends a sentence without a space after it
    ],
)
def test_where_a_caption_grown_too_long_is_cut(caption: str, cut: int) -> None:
    assert caption_cut(caption) == cut


def test_a_caption_without_spaces_is_cut_whole() -> None:
    captions = Captions()
    shown = captions.heard("user", "x" * (CAPTION_MAX_CHARS + 1), False, T0)
    assert shown == [Caption("user", "x" * (CAPTION_MAX_CHARS + 1), True, T0)]
