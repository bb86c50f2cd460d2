// Ids in a sentence ("ticket TKT-9XK2QA", "about ORD-1137", "CALL-229a2d…"), found as the
// server's `ids` filter finds them (support/templatetags/staff.py): the customer's page and a
// staff member's live call view (static/livestaff/call.js) show them whole.

const ID_IN_TEXT = /(?<![\p{L}\p{N}_-])([A-Z]{2,5}-(?=[a-z]*[A-Z0-9])[A-Za-z0-9]+)(?![\p{L}\p{N}_-])/u;

/**
 * `text` as nodes to show: its words as text (never markup: captions hold what the model and
 * the customer said), each id in it in an `.id` span, which keeps it on one line. A phone
 * breaks "TKT-9XK2QA" after its hyphen, and an id read out or noted down in two pieces reads
 * as two things.
 */
export function withIds(text) {
  return String(text ?? "").split(ID_IN_TEXT).map((piece, n) => {
    if (n % 2 === 0) return piece; // the ids are the odd pieces
    const id = document.createElement("span");
    id.className = "id";
    id.textContent = piece;
    return id;
  }).filter((node) => node !== ""); // no empty text nodes: "" leaves an element empty
}
