// The open-escalations page, kept live: each ticket the agent opens arrives over
// ws/staff/queue and is added to the top of the table. Rows are built with textContent
// only (ticket reasons come from callers), and the socket reconnects with backoff.
(function () {
  "use strict";

  const MAX_DELAY_MS = 30000;
  const table = document.querySelector("[data-live-queue]");
  const statusLine = document.querySelector("[data-live-status]");
  if (!table) {
    return;
  }
  const tbody = table.tBodies[0];
  const urlTemplate = table.dataset.ticketUrl;
  let delay = 1000;

  function say(text) {
    if (statusLine) {
      statusLine.textContent = text;
    }
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined || text === "" ? "—" : String(text);
    row.appendChild(td);
    return td;
  }

  function addTicket(ticket) {
    const empty = tbody.querySelector("tr.empty");
    if (empty) {
      empty.remove();
    }
    const row = document.createElement("tr");
    row.className = "new priority-" + ticket.priority;
    const link = document.createElement("a");
    link.href = urlTemplate.replace("__TICKET__", encodeURIComponent(ticket.ticket_id));
    link.textContent = ticket.ticket_id;
    cell(row, "").replaceChildren(link);
    // As the server-rendered rows show it (the choice's label): "urgent" -> "Urgent".
    const priority = String(ticket.priority || "");
    cell(row, priority.charAt(0).toUpperCase() + priority.slice(1));
    cell(row, "just now");
    cell(row, ticket.user_id);
    cell(row, ticket.order_id);
    cell(row, ticket.reason);
    cell(row, "");
    cell(row, "new: reload to claim");
    tbody.prepend(row);
    say("New ticket " + ticket.ticket_id + " (" + ticket.priority + "). Reload to sort by priority.");
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(scheme + "://" + window.location.host + "/ws/staff/queue");
    socket.addEventListener("open", function () {
      delay = 1000;
      say("Live: new tickets appear here as callers are escalated.");
    });
    socket.addEventListener("message", function (event) {
      const message = JSON.parse(event.data);
      if (message.type === "escalation") {
        addTicket(message.ticket);
      }
    });
    socket.addEventListener("close", function () {
      say("Live updates paused; reconnecting…");
      window.setTimeout(connect, delay);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    });
  }

  connect();
})();
