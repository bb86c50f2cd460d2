// The call's WebSocket to /ws/voice (contract section 3): JSON events as text frames, audio as
// binary frames. It knows the wire, not the call: what an event means is call.js's business.

export class CallConnection {
  /**
   * `query` names the caller (`token=…` or, in demo mode, `user_id=…`). The handlers:
   * `onOpen()`, `onEvent(event)` with each decoded JSON event, `onAudio(arrayBuffer)` with
   * each frame of the agent's voice, `onClose(closeEvent)` once the socket is closed.
   */
  constructor(query, { onOpen, onEvent, onAudio, onClose }) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws/voice?${query}`);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => onOpen();
    socket.onmessage = (event) => {
      if (typeof event.data === "string") onEvent(JSON.parse(event.data));
      else onAudio(event.data);
    };
    socket.onclose = (event) => onClose(event);
    this.socket = socket;
  }

  /** Whether the socket is open (not still connecting, nor closing or closed). */
  get open() {
    return this.socket.readyState === WebSocket.OPEN;
  }

  /** Send an ArrayBuffer as audio or an object as a JSON event; false when not open. */
  send(message) {
    if (!this.open) return false;
    this.socket.send(message instanceof ArrayBuffer ? message : JSON.stringify(message));
    return true;
  }

  /** Close unless already closing or closed; `onClose` follows. */
  close(code = 1000) {
    if (this.socket.readyState <= WebSocket.OPEN) this.socket.close(code);
  }
}
