"""Phone calls: Twilio Media Streams into the same agent (contract section 4).

    POST /twilio/voice   views.py      Twilio's webhook: signed -> TwiML <Connect><Stream>
                                      with a signed per-call token (security.py)
    WS   /ws/twilio      guard.py      upgrade signed by Twilio, else closed before accept
                         consumer.py   Twilio frames <-> CallSession (thin)
                         playout.py    agent speech -> 20 ms µ-law frames, paced, mark/clear
    Twilio REST          twilio_rest.py  the one place that calls Twilio (transfer a call)

The Twilio message format lives in realtime/twilio_protocol.py and the codecs in
realtime/audio.py; both are pure.
"""
