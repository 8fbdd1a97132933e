/* why a client connection ended; the short code goes to $close_reason */
PT_CLOSE(NONE,			"--")	/* still open / normal keep-alive */
PT_CLOSE(DONE,			"OK")	/* response complete, not kept alive */
PT_CLOSE(CLIENT_EOF,		"CE")	/* client closed */
PT_CLOSE(CLIENT_ERROR,		"CR")	/* read/write error on the client side */
PT_CLOSE(CLIENT_TIMEOUT,	"CT")	/* client header/body/send timeout */
PT_CLOSE(KEEPALIVE_TIMEOUT,	"KT")	/* idle keep-alive expired */
PT_CLOSE(BAD_REQUEST,		"BR")	/* request rejected by the parser */
PT_CLOSE(UPSTREAM_ERROR,	"UE")	/* upstream failed mid-response */
PT_CLOSE(UPSTREAM_TIMEOUT,	"UT")	/* upstream read/send timeout mid-response */
PT_CLOSE(SHUTDOWN,		"SD")	/* worker shutting down */
PT_CLOSE(INTERNAL,		"IE")	/* internal error */
