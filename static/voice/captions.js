// The conversation view: live captions of both sides, typed messages, and one plain-words
// line for what the agent is doing (its tools).

import { withIds } from "./ids.js";
import { say, ui } from "./page.js";

const ORDER_STATUS_WORDS = {
  placed: "placed",
  preparing: "being prepared",
  out_for_delivery: "out for delivery",
  delivered: "delivered",
  cancelled: "cancelled",
  refunded: "refunded",
};

const rupeeFormat = new Intl.NumberFormat("en-IN", { style: "currency", currency: "INR" });
/** Tool results carry rupees as strings ("337.50"): "₹337.50", with Indian grouping. */
const inr = (amount) => rupeeFormat.format(Number(amount));

const plural = (count, one, many) => `${count} ${count === 1 ? one : many}`;

// What the agent is doing, in plain words: while a tool runs, and from its result.
const TOOL_WORDS = {
  get_user_profile: {
    started: "Looking up your account…",
    done: (r) => (r.tier ? `Found your account (${r.tier} member)` : "Found your account"),
  },
  check_order_status: {
    started: "Checking your orders…",
    done: (r) => `Found ${plural((r.orders || []).length, "recent order", "recent orders")}`,
  },
  get_order_details: {
    started: "Looking at your order…",
    done: (r) => `Order ${r.order_id}: ${ORDER_STATUS_WORDS[r.status] || r.status}`,
  },
  initiate_refund: {
    started: "Processing your refund…",
    done: (r) => `Refund of ${inr(r.amount)} credited to your wallet`,
    refused: (r) => `No refund: ${r.message}`,
  },
  file_complaint: {
    started: "Filing your complaint…",
    done: (r) => `Complaint ${r.complaint_id} filed`,
  },
  escalate_to_human: {
    started: "Getting a colleague to help…",
    done: (r) => `Ticket ${r.ticket_id} opened for a colleague`,
  },
  list_callback_slots: {
    started: "Looking for times a colleague can call you…",
    done: (r) => {
      const free = (r.slots || []).length;
      const found = free ? `Found ${plural(free, "free time", "free times")}` : "No free times";
      return `${found} for a callback (${r.day})`;
    },
  },
  schedule_callback: {
    started: "Booking your callback…",
    done: (r) => {
      const number = r.number_ending ? `: we'll call your number ending ${r.number_ending}` : "";
      return `Callback booked for ${r.when}${number}`;
    },
    // Its refusals tell the agent what to do next ("Call list_callback_slots…"), not the customer.
    refused: (r) => ({
      slot_unavailable: "Callback not booked: that time can't be booked",
      already_scheduled: "Callback not booked: you already have one that day",
    })[r.reason] || r.message,
  },
  cancel_callback: {
    started: "Cancelling your callback…",
    done: (r) => `Callback for ${r.when} cancelled`,
  },
};
const UNKNOWN_TOOL = { started: "Working on it…", done: () => "Done" };
const DID_NOT_WORK = "That didn't work this time; the assistant will tell you what's next.";

function toolWords(name, status, result) {
  const words = TOOL_WORDS[name] || UNKNOWN_TOOL;
  if (status === "started") return words.started;
  // A call the agent got wrong (`invalid_argument`) is answered to the agent, in its terms
  // ("category must be one of: …"): the customer is only told it did not work.
  if (result?.reason === "unavailable") return "Our records are unavailable right now.";
  if (status === "failed" || result?.reason === "invalid_argument") return DID_NOT_WORK;
  if (result && result.ok === false) {
    return words.refused ? words.refused(result) : result.message || "That wasn't possible.";
  }
  return words.done(result || {});
}

function scrollCaptions() {
  ui.captions.scrollTop = ui.captions.scrollHeight;
}

function captionLine(kind, who, text) {
  const line = document.createElement("li");
  line.className = `line line--${kind}`;
  if (who) {
    const label = document.createElement("span");
    label.className = "who";
    label.textContent = who;
    line.append(label, " ");
  }
  const body = document.createElement("span");
  body.className = "text";
  body.append(...withIds(text));
  line.append(body);
  return line;
}

function addLine(line) {
  ui.emptyCaptions.hidden = true;
  ui.captions.append(line);
  scrollCaptions();
  return line;
}

/** An agent's line cut short by the customer: " …" on screen, "(interrupted)" when read. */
function markCut(line) {
  if (line.classList.contains("cut")) return;
  line.classList.add("cut");
  const note = document.createElement("span");
  note.className = "visually-hidden";
  note.textContent = " (interrupted)";
  line.append(note);
}

/** Empty the conversation for a new call. */
export function clearCaptions() {
  ui.captions.querySelectorAll(".line").forEach((line) => line.remove());
  ui.emptyCaptions.hidden = false;
}

/** Whether the conversation already shows `text` (e.g. a ticket number). */
export function captionsMention(text) {
  return ui.captions.textContent.includes(text);
}

// The AI is "the assistant" everywhere on this page (a customer may take "Agent" for a person).
const WHO = { user: "You", agent: "Assistant" };

/** One call's captions: the partial line of each side and the tools still running. */
export class Captions {
  constructor() {
    this.partial = { user: null, agent: null };
    this.tools = []; // activity lines of tools still running: {name, line}
    // The agent's line of the turn under way (until `turn_complete`), and whether the customer
    // cut that turn short: only its line is marked, never an earlier answer said in full.
    this.turnLine = null;
    this.turnCut = false;
  }

  transcript(role, text, final) {
    const current = this.partial[role];
    if (!final) {
      if (current) {
        current.querySelector(".text").replaceChildren(...withIds(text));
        scrollCaptions();
      } else {
        // Partial captions change many times a second: hidden from screen readers (a braille
        // display would be rewritten at each), which read the final line that replaces it.
        const line = captionLine(role, WHO[role], text);
        line.classList.add("partial");
        line.setAttribute("aria-hidden", "true");
        this.partial[role] = addLine(line);
        if (role === "agent") this.agentLine(line);
      }
      return;
    }
    const line = captionLine(role, WHO[role], text);
    if (current) current.replaceWith(line);
    else addLine(line);
    this.partial[role] = null;
    if (role === "agent") this.agentLine(line);
    scrollCaptions();
  }

  /** A line of the agent's turn under way: cut too if the customer already cut the turn. */
  agentLine(line) {
    this.turnLine = line;
    if (this.turnCut) markCut(line);
  }

  /** The agent's turn is over (`turn_complete`): what follows belongs to its next turn. */
  turnComplete() {
    this.turnLine = null;
    this.turnCut = false;
  }

  /** A message the customer typed and sent; its line, in case the server refuses it. */
  typed(text) {
    return addLine(captionLine("user", "You (typed)", text));
  }

  /** The server refused a typed message: its line says it was not sent. */
  notSent(line) {
    line.classList.add("not-sent");
    const status = document.createElement("span");
    status.className = "line-status";
    status.textContent = "Not sent";
    line.append(" ", status);
  }

  /** The customer talked over the agent: its turn under way was cut short. A turn not yet
   * captioned (its audio comes before its transcription) has its line marked when it comes. */
  interrupted() {
    this.turnCut = true;
    if (this.turnLine) markCut(this.turnLine);
  }

  tool(name, status, result) {
    const words = toolWords(name, status, result);
    const line = captionLine("activity", "", words);
    line.dataset.tool = name;
    line.dataset.status = status === "done" && result && result.ok === false ? "refused" : status;
    if (status === "started") {
      this.tools.push({ name, line: addLine(line) });
      // The agent goes quiet while it works: what it is doing is said. Not how it went: the
      // agent says that itself, and the line is there to read.
      say(words);
      return;
    }
    // Replace the running line of the same tool: how it went, where it said what it did.
    const index = this.tools.findIndex((t) => t.name === name);
    if (index >= 0) {
      this.tools[index].line.replaceWith(line);
      this.tools.splice(index, 1);
      scrollCaptions();
    } else {
      addLine(line);
    }
  }

  note(text) {
    addLine(captionLine("note", "", text));
  }
}
