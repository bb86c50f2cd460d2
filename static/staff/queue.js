// The open and claimed queues, kept live. Whenever a ticket is opened, claimed, assigned or
// resolved anywhere, or the caller of a live one starts or stops being put through to the
// escalation phone line (ws/staff/queue, fed through the channel layer by every server process),
// the page fetches its table rows again from the server, which sorts them (urgent, high,
// normal, low, then oldest first) and renders them with their Claim buttons. The same happens
// after every reconnect, so nothing that changed during a network blip is missed. Waiting
// times tick every 15 seconds here, and tickets waiting past the configured age are flagged.
(function () {
  "use strict";

  const TICK_MS = 15000;
  const table = document.querySelector("[data-live-queue]");
  const statusLine = document.querySelector("[data-live-status]");
  if (!table) {
    return;
  }
  const rowsUrl = table.dataset.rowsUrl;
  const overdueAfterS = Number(table.dataset.overdueAfter || 0);
  // Who claimed a ticket arrives as a username: named here as colleagues know them.
  const names = JSON.parse(document.getElementById("staff-names").textContent);

  const say = window.StaffLive.statusSayer(statusLine);

  function ticketIds(tbody) {
    return new Set(Array.from(tbody.querySelectorAll("tr[data-ticket]"), (row) => row.dataset.ticket));
  }

  // "under a minute", "5 minutes", "1 hour, 30 minutes": as the server writes it
  // (support/staff/labels.py: waited).
  function waited(seconds) {
    const minutes = Math.floor(seconds / 60);
    if (minutes < 1) {
      return "under a minute";
    }
    const plural = (n, word) => n + "\u00a0" + word + (n === 1 ? "" : "s");
    const days = Math.floor(minutes / 1440);
    const hours = Math.floor((minutes % 1440) / 60);
    const mins = minutes % 60;
    if (days) {
      return plural(days, "day") + (hours ? ", " + plural(hours, "hour") : "");
    }
    if (hours) {
      return plural(hours, "hour") + (mins ? ", " + plural(mins, "minute") : "");
    }
    return plural(mins, "minute");
  }

  function tick() {
    const now = Date.now();
    for (const row of table.querySelectorAll("tr[data-created]")) {
      const age = row.querySelector("[data-age]");
      if (!age) {
        continue;
      }
      const seconds = (now - Date.parse(row.dataset.created)) / 1000;
      age.textContent = waited(seconds);
      const overdue = overdueAfterS > 0 && seconds >= overdueAfterS;
      row.classList.toggle("overdue", overdue);
      const flag = row.querySelector(".overdue-flag");
      if (flag) {
        flag.hidden = !overdue;
      }
    }
  }

  const refresh = window.StaffLive.rowRefresher({
    table, url: rowsUrl, what: "the queue", say,
    after() {
      tick();
      catchUpBriefings();
    },
    swap(fresh, old) {
      const known = ticketIds(old);
      for (const row of fresh.querySelectorAll("tr[data-ticket]")) {
        if (!known.has(row.dataset.ticket)) {
          row.classList.add("new");
        }
      }
    },
  });

  // A warm escalation's row is fetched as its ticket opens, before the call's record says
  // what the agent did: it is fetched again until it does.
  const catchUpBriefings = window.StaffLive.briefingCatchUp(table, () => refresh());

  function describe(message) {
    const ticket = message.ticket || {};
    const priority = ticket.priority ? " (" + ticket.priority + ")" : "";
    switch (message.type) {
      case "escalation":
        return "New ticket " + ticket.ticket_id + priority + ".";
      case "changed":
        if (ticket.transferring !== undefined) {
          // Its call started, or stopped, being put through to the escalation phone line.
          return "Ticket " + ticket.ticket_id + (ticket.transferring
            ? ": the caller is being put through to our escalation phone line."
            : ": the transfer to our escalation phone line did not go through; the caller is with the agent.");
        }
        if (ticket.live === false) {
          // Its call ended: only its "Join call" goes, quietly (the ticket itself is as it was,
          // and this can arrive after news of the ticket that matters more).
          return "";
        }
        return "Ticket " + ticket.ticket_id + " " + (ticket.status || "changed") +
          (ticket.assignee ? " by " + (names[ticket.assignee] || ticket.assignee) : "") + ".";
      default:
        return "";
    }
  }

  function connect() {
    window.StaffLive.reconnectingSocket("/ws/staff/queue", {
      say, what: "tickets",
      // Anything that changed while the page was not listening shows up now.
      onOpen: () => refresh("Live: tickets appear, move and leave here as they change."),
      onMessage: (message) => refresh(describe(message)),
    });
  }

  window.setInterval(tick, TICK_MS);
  tick();
  connect();
})();
