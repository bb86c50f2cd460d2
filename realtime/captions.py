"""Captions: the model's running transcription of each side of a call, cut into the lines of
the conversation. Pure: no I/O (the call keeps the lines and sends them: CallSession._show).

The Live API sends each side's words in fragments; a caption grows with them until the model
says it is finished, the other side answers (the agent answering ends the customer's
utterance), or the call ends it (a typed message, a resumed session, the call moving on).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# A caption in progress is sent whole on each fragment: a line longer than this is ended (at
# a sentence, else a word) and the turn goes on in a new one, so a long turn costs the page
# and staff sockets bytes in proportion to its length, not to its square.
CAPTION_MAX_CHARS = 400
SENTENCE_ENDS = (". ", "? ", "! ", "\u0964 ", "\u3002")  # "।" (Hindi), "。" (no space after)
ROLES = ("user", "agent")


@dataclass(frozen=True)
class Caption:
    """What shows of a side's words: a line of the conversation once `finished` (`began`:
    when its first words came), else the caption so far."""

    role: str
    text: str
    finished: bool
    began: datetime | None = None


class Captions:
    def __init__(self) -> None:
        self._text: dict[str, str] = dict.fromkeys(ROLES, "")
        self._began: dict[str, datetime] = {}  # when each caption's first words came

    def heard(self, role: str, text: str, finished: bool, now: datetime) -> list[Caption]:
        """The model transcribed `text` of `role`'s words (`finished`: it ended the caption):
        the lines that end with it, then the caption so far, if one goes on."""
        shown = self.end("user") if role == "agent" else []
        if text.strip():
            # The line is dated when its words began: a long answer is kept once it ends.
            self._began.setdefault(role, now)
        caption = self._text[role] + text
        if len(caption) > CAPTION_MAX_CHARS and not finished:
            cut = caption_cut(caption)
            self._text[role] = caption[:cut]
            shown += self.end(role)
            caption = caption[cut:].lstrip()
            if caption:
                self._began[role] = now
        self._text[role] = caption
        if finished:
            shown += self.end(role)
        elif caption:
            shown.append(Caption(role, caption, False))
        return shown

    def end(self, role: str) -> list[Caption]:
        """`role`'s caption ends here: its line, if it said anything."""
        text = self._text[role].strip()
        self._text[role] = ""
        began = self._began.pop(role, None)
        return [Caption(role, text, True, began)] if text else []

    def end_all(self) -> list[Caption]:
        """Both captions end (the customer's first: what she said came before the answer)."""
        return [line for role in ROLES for line in self.end(role)]


def caption_cut(caption: str) -> int:
    """Where to end a caption grown too long: after its last sentence in its second half,
    else at its last space there, else (a script without spaces) after all of it."""
    half = len(caption) // 2
    sentence = max(caption.rfind(end, half) for end in SENTENCE_ENDS)
    if sentence >= 0:
        return sentence + 1
    space = caption.rfind(" ", half)
    return space if space >= 0 else len(caption)
