// The call page's recording: the conversation follows the audio. The turn being heard is
// highlighted (and kept in view while playing); clicking a turn, or its time, plays from it.
// Turns carry their line's time, in seconds from the start of the call (data-start): when its
// first caption came (records before 2026-12-07: when the line was complete, so where its
// words end). Where the words began comes from the turns the server timed (#speech-starts, by
// speaker): a turn plays from the first start of its speaker after that speaker's line before
// it, up to a moment after its own time (a caption can come just before its audio); one not
// timed (the agent's greeting) from its own time.
// A recording starts data-offset seconds after the call did; a call that moved to another
// server mid-call has one player per part, played one after the other. A part the browser
// could not load leaves a note where its player was, and its turns no longer offer to play.
(function () {
  "use strict";

  const LEAD_S = 0.05; // a turn counts as reached this early: timeupdate fires about 4 times a second
  const CAPTION_EARLY_S = 0.5; // a line's first caption can come this long before its first audio
  const players = Array.from(document.querySelectorAll("audio[data-follows]"));
  if (!players.length) {
    return;
  }
  const offsets = players.map((audio) => Number(audio.dataset.offset || 0));
  const turns = Array.from(document.querySelectorAll("ol.conversation li.turn[data-start]"));
  const measured = document.getElementById("speech-starts");
  const starts = spokenFrom(turns, measured ? JSON.parse(measured.textContent) : {});
  let current = null;
  const undo = new Map(); // a seekable turn -> what makes it a plain line again

  /** Where each turn's words begin: see the top. */
  function spokenFrom(lines, speech) {
    const before = {}; // by speaker: how far their lines so far reach (time or start)
    return lines.map((li) => {
      const speaker = li.classList.contains("customer") ? "customer" : "agent";
      const kept = Number(li.dataset.start);
      const after = before[speaker] === undefined ? -Infinity : before[speaker];
      const began = (speech[speaker] || []).find(
        (at) => at > after && at <= kept + CAPTION_EARLY_S);
      // The next line of this speaker starts after both: a start this line took is not
      // the next one's, even where it came after this line's caption.
      before[speaker] = began === undefined ? kept : Math.max(kept, began);
      return began === undefined ? kept : Math.max(0, began);
    });
  }

  /** The turn being heard at `seconds`: the one begun last by then. */
  function turnAt(seconds) {
    let found = -1;
    starts.forEach((start, i) => {
      if (start <= seconds + LEAD_S && (found < 0 || start >= starts[found])) {
        found = i;
      }
    });
    return found < 0 ? null : turns[found];
  }

  /** The part that holds `seconds` of the call: the last one started by then. */
  function partAt(seconds) {
    let found = 0;
    offsets.forEach((offset, i) => {
      if (offset <= seconds + LEAD_S) {
        found = i;
      }
    });
    return found;
  }

  function follow(part) {
    const audio = players[part];
    const turn = turnAt(offsets[part] + audio.currentTime);
    if (turn === current) {
      return;
    }
    if (current) {
      current.classList.remove("playing");
      current.removeAttribute("aria-current");
    }
    current = turn;
    if (turn) {
      turn.classList.add("playing");
      turn.setAttribute("aria-current", "true");
      if (!audio.paused) {
        turn.scrollIntoView({ block: "nearest", behavior: "smooth" });
      }
    }
  }

  /** A part the browser could not load (deleted since the page was opened, or the server could
   * not read it): said where its player was, rather than a player that stays at 0:00 whatever
   * is clicked. */
  function unplayable(part) {
    const audio = players[part];
    if (!audio.isConnected) {
      return;
    }
    const note = document.createElement("p");
    note.className = "nothing-recorded";
    note.setAttribute("role", "status");
    note.textContent = "This recording could not be loaded: it may have been deleted since " +
      "this page was opened, or the server could not read it. Reload the page to try again.";
    audio.pause();
    // Its caption (size, download link, "click a turn to hear it") promises what cannot be had.
    const caption = audio.nextElementSibling;
    if (caption && caption.matches("p.quiet")) {
      caption.remove();
    }
    audio.replaceWith(note);
    // Nor do its turns play any more: they read as the plain lines they are (another part's
    // turns still play from it).
    turns.forEach((turn, index) => {
      if (partAt(starts[index]) === part) {
        unseekable(turn);
      }
    });
  }

  /** A turn that plays from where its words begin when clicked (or its time pressed). */
  function seekable(turn, index) {
    const play = () => playFrom(index);
    const time = turn.querySelector("time");
    const onKey = (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        play();
      }
    };
    const onClick = (event) => {
      // Selecting words to copy them is not a request to play.
      if (!window.getSelection().isCollapsed || event.target.closest("a, button, details")) {
        return;
      }
      play();
    };
    turn.classList.add("seekable");
    if (time) {
      time.setAttribute("role", "button");
      time.tabIndex = 0;
      time.title = "Play from here";
      // Named for what it does, with the time it shows ("0:05" alone says nothing of playing).
      time.setAttribute("aria-label", "Play from " + time.textContent.trim());
      time.addEventListener("keydown", onKey);
    }
    turn.addEventListener("click", onClick);
    undo.set(turn, () => {
      turn.classList.remove("seekable", "playing");
      turn.removeAttribute("aria-current");
      if (time) {
        for (const name of ["role", "tabindex", "title", "aria-label"]) {
          time.removeAttribute(name);
        }
        time.removeEventListener("keydown", onKey);
      }
      turn.removeEventListener("click", onClick);
    });
  }

  function unseekable(turn) {
    const restore = undo.get(turn);
    if (restore) {
      undo.delete(turn);
      restore();
    }
    if (turn === current) {
      current = null;
    }
  }

  function playFrom(index) {
    const part = partAt(starts[index]);
    const audio = players[part];
    audio.currentTime = Math.max(0, starts[index] - offsets[part]);
    audio.play().catch(() => {}); // refused autoplay: the position is set, the person presses play
  }

  // The turns first: a part whose load failed already takes its turns back below.
  turns.forEach(seekable);
  players.forEach((audio, part) => {
    // Its load may have failed already: this script runs after the page is read.
    audio.addEventListener("error", () => unplayable(part));
    if (audio.error) {
      unplayable(part);
    }
    audio.addEventListener("timeupdate", () => follow(part));
    audio.addEventListener("seeked", () => follow(part));
    audio.addEventListener("play", () => {
      players.forEach((other) => {
        if (other !== audio) other.pause(); // one part at a time
      });
    });
    audio.addEventListener("ended", () => {
      const next = players[part + 1];
      if (next && next.isConnected) { // not one that could not be loaded
        next.currentTime = 0;
        next.play().catch(() => {});
      }
    });
  });
})();
