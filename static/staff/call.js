// The call page's recording: the conversation follows the audio. The turn being heard is
// highlighted (and kept in view while playing); clicking a turn, or its time, plays from it.
// Turns carry their start in seconds from the start of the call (data-start); the recording
// starts data-offset seconds after the call did.
(function () {
  "use strict";

  const LEAD_S = 0.05; // a turn counts as reached this early: timeupdate fires about 4 times a second
  const audio = document.querySelector("audio[data-follows]");
  if (!audio) {
    return;
  }
  const offset = Number(audio.dataset.offset || 0);
  const turns = Array.from(document.querySelectorAll("ol.conversation li.turn[data-start]"));
  const starts = turns.map((li) => Number(li.dataset.start) - offset);
  let current = null;

  function turnAt(seconds) {
    let found = -1;
    for (let i = 0; i < starts.length && starts[i] <= seconds + LEAD_S; i += 1) {
      found = i;
    }
    return found < 0 ? null : turns[found];
  }

  function follow() {
    const turn = turnAt(audio.currentTime);
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

  function playFrom(index) {
    audio.currentTime = Math.max(0, starts[index]);
    audio.play().catch(() => {}); // refused autoplay: the position is set, the person presses play
  }

  audio.addEventListener("timeupdate", follow);
  audio.addEventListener("seeked", follow);
  turns.forEach((turn, index) => {
    turn.classList.add("seekable");
    const time = turn.querySelector("time");
    if (time) {
      time.setAttribute("role", "button");
      time.tabIndex = 0;
      time.title = "Play from here";
      time.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          playFrom(index);
        }
      });
    }
    turn.addEventListener("click", (event) => {
      // Selecting words to copy them is not a request to play.
      if (!window.getSelection().isCollapsed || event.target.closest("a, button, details")) {
        return;
      }
      playFrom(index);
    });
  });
})();
