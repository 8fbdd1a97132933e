/* request phases in the order they run; see http_phase.c */
PT_PHASE(POST_READ)		/* right after the head is read (realip) */
PT_PHASE(SERVER_REWRITE)	/* rewrite directives at server level */
PT_PHASE(FIND_LOCATION)		/* location lookup (core, not pluggable) */
PT_PHASE(REWRITE)		/* rewrite directives at location level */
PT_PHASE(ACCESS)		/* allow/deny, limit_req, auth */
PT_PHASE(PRECONTENT)		/* try_files, mirror */
PT_PHASE(CONTENT)		/* location content handler (proxy, static) */
PT_PHASE(LOG)			/* after the response: access log */
