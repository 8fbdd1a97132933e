/*
 * proxy_retry.h: when a proxied request goes to the next server of its
 * upstream group (proxy_next_upstream, proxy_next_upstream_tries,
 * proxy_next_upstream_timeout). The decisions live in proxy_retry.c; the
 * proxy's failure paths in proxy_module.c ask them.
 */
#ifndef PT_PROXY_RETRY_H
#define PT_PROXY_RETRY_H

#include "portico.h"

/* kinds of failure of one try, and the proxy_next_upstream flags */
#define PROXY_FT_ERROR		0x0001	/* connect/send/recv error, premature close */
#define PROXY_FT_TIMEOUT	0x0002
#define PROXY_FT_INVALID_HEADER	0x0004	/* empty or invalid response head */
#define PROXY_FT_HTTP_500	0x0008
#define PROXY_FT_HTTP_502	0x0010
#define PROXY_FT_HTTP_503	0x0020
#define PROXY_FT_HTTP_504	0x0040
#define PROXY_FT_HTTP_403	0x0080
#define PROXY_FT_HTTP_404	0x0100
#define PROXY_FT_HTTP_429	0x0200
#define PROXY_FT_NON_IDEMPOTENT	0x0400	/* flag: retry POST, LOCK, PATCH too */
#define PROXY_FT_OFF		0x0800	/* flag: never retry */

extern struct pt_module pt_mod_proxy_next;

/*
 * The failure kind of upstream status <status> if the location lists it
 * in proxy_next_upstream, else 0 (the response is passed on as it is).
 */
unsigned	pt_proxy_next_status(struct pt_request *r, int status);

/*
 * May <r> go to another server after a try that failed with <ft>?
 * <tries>: tries made so far, the failed one included; <first>: when the
 * first try started; <sent>: the request reached the failed server (a
 * non-idempotent request is then retried only with non_idempotent);
 * <u>: the upstream group. Also counts the retry against the group's
 * retry budget when it says yes.
 */
int		pt_proxy_next_allowed(struct pt_request *r, unsigned ft, int tries,
		    pt_msec_t first, int sent, struct pt_upstream *u);

/*
 * Does a try that failed with <ft> count against the server for max_fails
 * (passive health checks)? error, timeout and invalid_header always do;
 * http_500/502/503/504/429 only when listed in proxy_next_upstream.
 */
int		pt_proxy_next_counts(struct pt_request *r, unsigned ft);

/* a request to group <u> started (for the retry budget's share) */
void		pt_proxy_next_request(struct pt_request *r, struct pt_upstream *u);

#endif /* PT_PROXY_RETRY_H */
