// The live calls page (/staff/live/), kept live. Every call in progress, on whichever server
// process carries it, publishes its state when it changes (ws/staff/live): what the agent is
// doing, who holds or listens to the call, an escalation. A change to a call already listed
// is made in place; a call that starts, ends or escalates makes the page fetch its rows again
// from the server (?rows=1), which renders names, tiers and briefings. Durations tick here.
// News can come late and out of order (a busy server): what the page says of an escalation
// comes from the rows it shows, not from the news that made it fetch them.
(function () {
  "use strict";

  const TICK_MS = 1000;
  // A call's first state can arrive before its record is readable by every process: a call
  // the server did not list yet is asked for again, a few times.
  const MISSING_RETRY_MS = 700;
  const MISSING_RETRIES = 5;
  // And its `ended` comes once its record says it ended (realtime/call_session.py close), but
  // a record written late (the database away a moment) or news overtaking a slower read may
  // still list it: the rows are asked for again until they do not.
  const ENDED_RETRY_MS = 700;
  const ENDED_RETRIES = 10;

  const table = document.querySelector("[data-live-calls]");
  const statusLine = document.querySelector("[data-live-status]");
  if (!table) {
    return;
  }
  const names = JSON.parse(document.getElementById("staff-names").textContent);
  const rowsUrl = table.dataset.rowsUrl;
  const missing = new Map(); // call id -> retries left
  const ended = new Map(); // call id -> retries left while the rows still list it
  const ESCALATED = "A customer is waiting for a colleague: join the call.";
  // One whose row says they are being put through to the escalation phone line already.
  const PUT_THROUGH = "A customer asked for a colleague and is being put through to our escalation phone line.";
  let announced = escalations(); // the page came with these: nothing to announce

  window.liveCallsDebug = { events: 0, refreshes: 0 };

  // Quiet news about the rows; live updates stopped for good, a warning (as on the queue).
  const say = window.StaffLive.statusSayer(statusLine);

  function mmss(seconds) {
    const total = Math.max(0, Math.round(seconds));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = String(total % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + s : m + ":" + s;
  }

  function tick() {
    const now = Date.now();
    for (const row of table.querySelectorAll("tr[data-started]")) {
      const cell = row.querySelector("[data-duration]");
      if (cell) {
        cell.textContent = mmss((now - Date.parse(row.dataset.started)) / 1000);
      }
    }
  }

  function rowOf(callId) {
    return Array.from(table.querySelectorAll("tr[data-call]")).find((row) => row.dataset.call === callId);
  }

  /** The tickets of the live escalations the rows show. */
  function escalations() {
    return new Set(Array.from(table.querySelectorAll("tr[data-escalation]"),
                              (row) => row.dataset.escalation));
  }

  /** An escalation the rows show for the first time is what the page says, whatever news
   *  made it fetch them ("A call started.", for one whose first news was its escalation). */
  function announceEscalations() {
    const fresh = Array.from(table.querySelectorAll("tr[data-escalation]"))
      .filter((row) => !announced.has(row.dataset.escalation));
    if (fresh.length) {
      const waiting = fresh.some((row) => !row.querySelector("[data-briefing].transferring"));
      say(waiting ? ESCALATED : PUT_THROUGH);
    }
    announced = escalations();
  }

  /** What the call is doing, as the server words it (livestaff/presenting.py with_now, as
   *  the live call view says it too): an escalated call nobody has joined reads as waiting
   *  for a colleague, whatever its agent does meanwhile. */
  function nowText(row, state) {
    const briefing = row.querySelector("[data-briefing]");
    const waiting = briefing && !briefing.classList.contains("joined");
    return waiting ? state.now_waiting : state.now;
  }

  function staffCell(cell, holder, listeners) {
    cell.replaceChildren();
    const who = (username) => names[username] || username;
    if (holder) {
      const bold = document.createElement("b");
      bold.textContent = "Held by " + who(holder);
      cell.append(bold);
    }
    if (listeners.length) {
      if (holder) {
        cell.append(document.createElement("br"));
      }
      cell.append("Listening: " + listeners.map(who).join(", "));
    }
    if (!holder && !listeners.length) {
      const nobody = document.createElement("span");
      nobody.className = "quiet";
      nobody.textContent = "Nobody";
      cell.append(nobody);
    }
  }

  // A colleague took over an escalated call: its briefing says so from now on, after a
  // hand-back too (the server's rows say so as well once the ticket has it).
  const refresh = window.StaffLive.rowRefresher({
    table, url: rowsUrl, what: "the live calls", say,
    swap() {
      window.liveCallsDebug.refreshes += 1;
    },
    after() {
      tick();
      askAgainForMissing();
      askAgainForEnded();
      askAgainForBriefings();
      announceEscalations();
    },
  });

  function askAgainForMissing() {
    for (const [callId, left] of missing) {
      if (rowOf(callId) || left <= 0) {
        missing.delete(callId);
      } else {
        missing.set(callId, left - 1);
        window.setTimeout(() => refresh(), MISSING_RETRY_MS);
      }
    }
  }

  function askAgainForEnded() {
    let again = false;
    for (const [callId, left] of ended) {
      if (rowOf(callId) && left > 0) {
        ended.set(callId, left - 1);
        again = true;
      }
    }
    if (again) {
      window.setTimeout(() => refresh(), ENDED_RETRY_MS);
    }
  }

  // An escalation's briefing is fetched again until the call's record says what the agent did.
  const askAgainForBriefings = window.StaffLive.briefingCatchUp(table, () => refresh());

  function onCall(state) {
    window.liveCallsDebug.events += 1;
    const row = rowOf(state.call_id);
    if (state.ended) {
      ended.set(state.call_id, ENDED_RETRIES);
      missing.delete(state.call_id);
      if (row) {
        refresh("A call ended.");
      }
      return;
    }
    if (ended.has(state.call_id)) {
      return; // news of it that came late: it is over
    }
    if (!row) {
      if (!missing.has(state.call_id)) {
        missing.set(state.call_id, MISSING_RETRIES);
      }
      refresh("A call started.");
      return;
    }
    if (state.escalation && row.dataset.escalation !== state.escalation) {
      refresh(); // its row with the briefing and "Join call", announced once it shows
      return;
    }
    if (!state.escalation && row.dataset.escalation) {
      refresh(); // its ticket was resolved meanwhile: its "Join call" goes
      return;
    }
    row.classList.toggle("mode-human", state.mode === "human");
    row.classList.toggle("mode-agent", state.mode !== "human");
    if (state.mode === "human") {
      window.StaffLive.markJoined(row.querySelector("[data-briefing]"), names[state.staff] || state.staff);
    }
    window.StaffLive.markTransferring(row.querySelector("[data-briefing]"), state.doing);
    const join = row.querySelector("a.join");
    if (join) {
      // A take-over is refused while the caller is put through (_join_link.html).
      join.textContent = state.doing === "transferring" ? "Listen in" : join.dataset.offer;
    }
    row.querySelector("[data-doing]").textContent = nowText(row, state);
    staffCell(row.querySelector("[data-staff]"), state.staff, state.listeners || []);
  }

  function connect() {
    window.StaffLive.reconnectingSocket("/ws/staff/live", {
      say, what: "live calls",
      // Whatever changed while the page was not listening shows up now.
      onOpen: () => refresh("Live: calls appear, change and leave here as they happen."),
      onMessage(message) {
        if (message.type === "call") {
          onCall(message.call);
        }
      },
    });
  }

  window.setInterval(tick, TICK_MS);
  tick();
  connect();
})();
