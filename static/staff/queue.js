// The open and claimed queues, kept live. Whenever a ticket is opened, claimed, assigned or
// resolved anywhere (ws/staff/queue, fed through the channel layer by every server process),
// the page fetches its table rows again from the server, which sorts them (urgent, high,
// normal, low, then oldest first) and renders them with their Claim buttons. The same happens
// after every reconnect, so nothing that changed during a network blip is missed. Waiting
// times tick every 15 seconds here, and tickets waiting past the configured age are flagged.
(function () {
  "use strict";

  const MAX_DELAY_MS = 30000;
  const TICK_MS = 15000;
  const table = document.querySelector("[data-live-queue]");
  const statusLine = document.querySelector("[data-live-status]");
  if (!table) {
    return;
  }
  const rowsUrl = table.dataset.rowsUrl;
  const overdueAfterS = Number(table.dataset.overdueAfter || 0);
  let delay = 1000;
  let refreshing = null;
  let refreshAgain = false;
  let news = "";

  function say(text) {
    if (statusLine) {
      statusLine.textContent = text;
    }
  }

  function ticketIds(tbody) {
    return new Set(Array.from(tbody.querySelectorAll("tr[data-ticket]"), (row) => row.dataset.ticket));
  }

  // "5 minutes", "1 hour, 30 minutes": as the server's timesince writes it.
  function waited(seconds) {
    const minutes = Math.floor(seconds / 60);
    if (minutes < 1) {
      return "0 minutes";
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

  async function refresh(why) {
    // One refresh at a time; events arriving meanwhile ask for one more afterwards, and the
    // latest news among them is what the status line says once the rows are fresh.
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
        const response = await fetch(rowsUrl, { credentials: "same-origin", cache: "no-store" });
        if (!response.ok) {
          throw new Error("the queue answered " + response.status);
        }
        const holder = document.createElement("template");
        holder.innerHTML = "<table>" + (await response.text()) + "</table>";
        const fresh = holder.content.querySelector("tbody");
        const old = table.tBodies[0];
        const known = ticketIds(old);
        for (const row of fresh.querySelectorAll("tr[data-ticket]")) {
          if (!known.has(row.dataset.ticket)) {
            row.classList.add("new");
          }
        }
        table.replaceChild(fresh, old);
        tick();
      } while (refreshAgain);
    })();
    try {
      await refreshing;
      if (news) {
        say(news);
        news = "";
      }
    } catch (error) {
      say("Could not refresh the queue (" + error.message + "); reload the page.");
    } finally {
      refreshing = null;
    }
  }

  function describe(message) {
    const ticket = message.ticket || {};
    const priority = ticket.priority ? " (" + ticket.priority + ")" : "";
    switch (message.type) {
      case "escalation":
        return "New ticket " + ticket.ticket_id + priority + ".";
      case "changed":
        if (ticket.live === false) {
          // Its call ended: only its "Join call" goes, quietly (the ticket itself is as it was,
          // and this can arrive after news of the ticket that matters more).
          return "";
        }
        return "Ticket " + ticket.ticket_id + " " + (ticket.status || "changed") +
          (ticket.assignee ? " by " + ticket.assignee : "") + ".";
      default:
        return "";
    }
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(scheme + "://" + window.location.host + "/ws/staff/queue");
    let opened = false;
    socket.addEventListener("open", function () {
      opened = true;
      delay = 1000;
      // Anything that changed while the page was not listening shows up now.
      refresh("Live: tickets appear, move and leave here as they change.");
    });
    socket.addEventListener("message", function (event) {
      const message = JSON.parse(event.data);
      refresh(describe(message));
    });
    socket.addEventListener("close", function () {
      say(opened ? "Live updates paused; reconnecting…" : "Could not connect for live updates; retrying…");
      window.setTimeout(connect, delay);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    });
  }

  window.setInterval(tick, TICK_MS);
  tick();
  connect();
})();
