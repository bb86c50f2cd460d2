// The page of a ringing callback (callbacks/calling.html) looks again every few seconds. A
// reload would start a screen reader over at the top of the page and drop the keyboard focus
// each time: the page fetches itself instead, goes where the server sends it (the call's live
// view once the customer answered, the board once the callback closed), and swaps what it says
// (a live region) only when that changed: "Calling" (Twilio has not confirmed the dial yet, as
// when a double click's second request answered first) becomes "Ringing" once it has.
(function () {
  "use strict";

  const section = document.querySelector("[data-calling]");
  if (!section || section.dataset.state !== "ringing") {
    return;
  }
  const everyMs = Number(section.dataset.refreshS) * 1000;

  async function look() {
    let response;
    try {
      response = await fetch(window.location.href, { credentials: "same-origin", cache: "no-store" });
    } catch (error) {
      window.setTimeout(look, everyMs); // a blip: look again
      return;
    }
    if (response.redirected) {
      window.location.assign(response.url);
      return;
    }
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.querySelector("[data-calling]");
    const status = (from) => from.querySelector(".calling-status")?.textContent ?? "";
    if (fresh && (fresh.dataset.state !== section.dataset.state || status(fresh) !== status(section))) {
      section.className = fresh.className;
      section.dataset.state = fresh.dataset.state;
      section.replaceChildren(...fresh.childNodes);
    }
    if (section.dataset.state !== "ringing") {
      return; // no answer, a busy line, or the call came and went: nothing more to wait for
    }
    window.setTimeout(look, everyMs);
  }

  window.setTimeout(look, everyMs);
})();
