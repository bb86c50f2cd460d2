// What the live staff pages share (the queue, the live calls page, a live call): their rows
// fetched again from the server, one fetch at a time, a socket that says when, reconnecting
// with backoff, an escalation's briefing fetched again until it says what the agent did, and
// once a colleague joined or while the caller is put through to the escalation phone line.
window.StaffLive = (function () {
  "use strict";

  const MAX_DELAY_MS = 30000;
  const FORBIDDEN = 4403; // the server closed the socket: its user may no longer have it
  // A call's record (what the agent did, for the briefing) is written about once a second,
  // later on a busy server: an escalation whose briefing does not say yet what the agent did
  // (its escalating, at least) is fetched again until the record has caught up, a few times.
  const RECORD_CATCH_UP_MS = 1000;
  const RECORD_CATCH_UP_RETRIES = 10;

  /**
   * A `refresh(why)` for `table`: fetches its <tbody> again from `url`. Events arriving during
   * a fetch ask for one more afterwards, and the latest news among them is what `say` shows
   * once the rows are fresh. `swap(fresh, old)` runs before each swap (to mark new rows, say);
   * `after()` after each refresh.
   */
  function rowRefresher({ table, url, what, say, swap, after }) {
    let refreshing = null;
    let refreshAgain = false;
    let news = "";
    return async function refresh(why) {
      if (why) {
        news = why;
      }
      if (refreshing) {
        refreshAgain = true;
        return refreshing;
      }
      refreshing = (async function () {
        do {
          refreshAgain = false;
          const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
          if (!response.ok) {
            throw new Error("the server answered " + response.status);
          }
          const holder = document.createElement("template");
          holder.innerHTML = "<table>" + (await response.text()) + "</table>";
          const fresh = holder.content.querySelector("tbody");
          if (swap) {
            swap(fresh, table.tBodies[0]);
          }
          const place = focusPlace(table.tBodies[0]);
          table.replaceChild(fresh, table.tBodies[0]);
          keepFocus(fresh, place);
        } while (refreshAgain);
      })();
      try {
        await refreshing;
        if (news) {
          say(news);
          news = "";
        }
      } catch (error) {
        say("Could not refresh " + what + " (" + error.message + "); reload the page.");
      } finally {
        refreshing = null;
      }
      if (after) {
        after();
      }
    };
  }

  /**
   * A `say(text, { stopped })` for a page's live status line (`statusLine`, quiet news about
   * the rows). Live updates stopped for good is a warning, said at once (role alert) and in the
   * back office's error box: the rows look as fresh as ever but change no more. It stays until
   * the page is reloaded, whatever a refresh still under way says after it.
   */
  function statusSayer(statusLine) {
    let stopped = false;
    return function say(text, { stopped: stopping = false } = {}) {
      if (!statusLine || stopped) {
        return;
      }
      if (stopping) {
        stopped = true;
        statusLine.setAttribute("role", "alert");
        statusLine.setAttribute("aria-live", "assertive");
        statusLine.classList.add("errornote");
      }
      statusLine.textContent = text;
    };
  }

  const FOCUSABLE = "a[href], button, summary, input, select, textarea";

  /** Where the keyboard focus is in `rows`: its row's call or ticket, and which of the row's
   *  controls has it; null when it is elsewhere. */
  function focusPlace(rows) {
    const focused = document.activeElement;
    const row = focused && rows.contains(focused) ? focused.closest("tr") : null;
    if (!row) {
      return null;
    }
    const controls = Array.from(row.querySelectorAll(FOCUSABLE));
    return { key: row.dataset.call || row.dataset.ticket, index: controls.indexOf(focused) };
  }

  /** Rows fetched again would drop the focus to <body>: it goes to the same control of the
   *  same call or ticket in the `fresh` rows (a link renamed, "Open" to "Join call", too). */
  function keepFocus(fresh, place) {
    if (!place) {
      return;
    }
    const row = Array.from(fresh.rows).find(
      (candidate) => (candidate.dataset.call || candidate.dataset.ticket) === place.key);
    const controls = row ? row.querySelectorAll(FOCUSABLE) : [];
    if (controls.length) {
      controls[Math.min(Math.max(place.index, 0), controls.length - 1)].focus();
    }
  }

  /** A socket on `path`, opened again with backoff whenever it closes; `onOpen` on each open
   *  (to catch up on what changed meanwhile), `onMessage` with each message parsed. When the
   *  server shuts it for good, `say(text, { stopped: true })` tells the person why: they no longer
   *  may see `what` ("tickets"; "this page" unless said). */
  function reconnectingSocket(path, { onOpen, onMessage, say, what = "this page" }) {
    let delay = 1000;
    function connect() {
      const scheme = window.location.protocol === "https:" ? "wss" : "ws";
      const socket = new WebSocket(scheme + "://" + window.location.host + path);
      let opened = false;
      socket.addEventListener("open", function () {
        opened = true;
        delay = 1000;
        onOpen();
      });
      socket.addEventListener("message", function (event) {
        onMessage(JSON.parse(event.data));
      });
      socket.addEventListener("close", function (event) {
        if (event.code === FORBIDDEN) {  // signed out, deactivated, or the permission taken away
          say("Live updates stopped: you were signed out or lost access to " + what + ". " +
            "Reload the page to sign in again.", { stopped: true });
          return;
        }
        say(opened ? "Live updates paused; reconnecting…" : "Could not connect for live updates; retrying…");
        window.setTimeout(connect, delay);
        delay = Math.min(delay * 2, MAX_DELAY_MS);
      });
    }
    connect();
  }

  /**
   * Briefing catch-up for `table`'s rows of live escalations (tr[data-escalation], the
   * ticket's id): call the function returned after each refresh. While a row's briefing has
   * no "What the agent did" (.briefing-actions), the rows are fetched again (`refresh()`) a
   * second later, up to RECORD_CATCH_UP_RETRIES times per escalation.
   */
  function briefingCatchUp(table, refresh) {
    const left = new Map(); // ticket id -> fetches left
    let timer = null;
    return function askAgain() {
      const seen = new Set();
      let again = false;
      for (const row of table.querySelectorAll("tr[data-escalation]")) {
        const ticket = row.dataset.escalation;
        seen.add(ticket);
        const tries = left.has(ticket) ? left.get(ticket) : RECORD_CATCH_UP_RETRIES;
        if (tries > 0 && !row.querySelector(".briefing-actions")) {
          left.set(ticket, tries - 1);
          again = true;
        } else {
          left.set(ticket, 0); // caught up, or given up on
        }
      }
      for (const ticket of left.keys()) {
        if (!seen.has(ticket)) {
          left.delete(ticket);
        }
      }
      if (again && timer === null) {
        timer = window.setTimeout(() => {
          timer = null;
          refresh();
        }, RECORD_CATCH_UP_MS);
      }
    };
  }

  /**
   * A colleague (`name`) took over the call of an escalation: its `briefing` says they joined
   * from now on, after a hand-back too, as the server paints it then (_briefing.html).
   */
  function markJoined(briefing, name) {
    if (briefing && name && !briefing.classList.contains("joined")) {
      briefing.classList.add("joined");
      briefing.querySelector("[data-joined]").textContent = `${name} joined the call`;
    }
  }

  /**
   * The call of an escalation is `doing` what its `state` says: while that is "transferring"
   * (Twilio putting the caller through to the escalation phone line) its `briefing` says so
   * instead of waiting for a colleague, as the server paints it then (_briefing.html).
   */
  function markTransferring(briefing, doing) {
    if (briefing) {
      briefing.classList.toggle("transferring", doing === "transferring");
    }
  }

  return {
    rowRefresher, reconnectingSocket, statusSayer, briefingCatchUp, markJoined, markTransferring,
  };
})();
