"""The phone line: a SIP endpoint (on when SIP_LISTEN is set) and the voice call flow behind it."""
