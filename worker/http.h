/*
 * http.h: the HTTP/1.x server runtime: servers and locations (the http
 * core module's configuration), the request object, the phase runner, the
 * response writer and the request-body reader that content handlers use.
 */
#ifndef PT_HTTP_H
#define PT_HTTP_H

#include "conn.h"
#include "http_parse.h"
#include "module.h"
#include "var.h"

#define PT_REQUEST_MAGIC	0x52455131u
#define PT_HTTP_MAX_LOC_DEPTH	8

extern struct pt_module pt_mod_http_core;

struct pt_regex;
struct pt_var_dyn;

/* one `listen` of a server */
struct pt_http_listen {
	struct pt_sockaddr	 addr;		/* address:port */
	unsigned		 default_server:1;
	int			 backlog;
	int			 rcvbuf, sndbuf;
	int			 ipv6only;	/* -1 unset */
	unsigned		 deferred:1;
	unsigned		 ssl:1;		/* listen ... ssl */
};

/* a location block (level LOC of the http core module) */
struct pt_http_loc {
	char			*name;		/* prefix or exact URI, "" at server level */
	size_t			 name_len;
	unsigned		 exact:1;	/* location = /x */
	unsigned		 noregex:1;	/* location ^~ /x */
	unsigned		 internal:1;	/* only reachable from error_page */
	unsigned		 named:1;	/* location @name */
	unsigned		 is_if:1;	/* an if (...) { } block of the rewrite module */
	struct pt_regex		*regex;		/* location ~ / ~* */
	/* lookup tables of the nested locations (built after the server is applied) */
	struct pt_http_loc	**exact_locs;	/* = , sorted by name */
	int			 nexact_locs;
	struct pt_http_loc	**prefix_locs;	/* prefix and ^~, sorted by name */
	int			 nprefix_locs;
	struct pt_http_loc	**regex_locs;	/* ~ and ~*, in config order */
	int			 nregex_locs;
	void			**loc_conf;	/* every module's conf for this location */
	struct pt_array		 children;	/* struct pt_http_loc *, nested */
	struct pt_http_loc	*parent_prefix;	/* longest other prefix of <name>, lookup */
	const char		*file;		/* where it was declared */
	int			 line;

	pt_phase_fn		 content;	/* content handler (proxy_pass, ...) or NULL */
	pt_msec_t		 keepalive_timeout;
	long			 keepalive_requests;
	pt_msec_t		 client_body_timeout;
	pt_msec_t		 send_timeout;
	size_t			 client_max_body_size;	/* 0 = unlimited */
	size_t			 client_body_buffer_size;
	int			 server_tokens;
	char			*default_type;
	struct pt_array		*error_pages;	/* struct pt_http_error_page, inherited */
};

struct pt_http_error_page {
	int		 status;		/* code matched */
	int		 overwrite;		/* =CODE: 0 keep, -1 use target's, else code */
	char		*uri;			/* target location URI */
};

/* a server block (level SRV of the http core module) */
struct pt_http_srv {
	struct pt_array		 listens;	/* struct pt_http_listen */
	struct pt_array		 names;		/* char *, as written (lowercased) */
	struct pt_array		 regex_names;	/* struct pt_regex *, ~names */
	void			**srv_conf;	/* modules' srv confs of this server */
	void			**loc_conf;	/* server-level loc confs */
	struct pt_http_loc	*root_loc;	/* == loc_conf[core], the server level */
	/* location lookup tables, built after the server is applied */
	struct pt_http_loc	**exact;	/* sorted by name */
	int			 nexact;
	struct pt_http_loc	**prefix;	/* sorted by name, see http_core_module.c */
	int			 nprefix;
	struct pt_http_loc	**named;	/* @name locations, sorted by name */
	int			 nnamed;
	const char		*file;
	int			 line;

	pt_msec_t		 client_header_timeout;
	size_t			 client_header_buffer_size;
	struct pt_conf_bufs	 large_buffers;		/* large_client_header_buffers */
	long			 max_fields;		/* header fields per request */
};

/* servers sharing one listening address, and how to pick among them */
struct pt_http_addr_servers {
	struct pt_http_srv	*default_server;
	unsigned		 explicit_default:1; /* a listen said default_server */
	/*
	 * On a wildcard address (*:80): the servers of specific addresses on
	 * the same port ("listen 127.0.0.1:80"), which share its socket as in
	 * nginx and are told apart by the connection's local address.
	 */
	struct pt_http_addr_servers **specific;
	struct pt_sockaddr	*specific_addr;
	int			 nspecific;
	struct pt_http_srv	**exact_names;	/* sorted by name (pairs below) */
	char			**exact_keys;
	int			 nexact;
	struct pt_http_srv	**wild_srv;	/* wildcard names in config order */
	char			**wild_keys;
	int			 nwild;
	struct pt_http_srv	**regex_srv;	/* ~regex names in config order */
	struct pt_regex		**regex_keys;
	int			 nregex;
};

/* cycle->http */
struct pt_http_main {
	struct pt_array		 servers;	/* struct pt_http_srv * */
	/* response filters, see pt_http_filter_add() */
	struct pt_array		 header_filters;
	struct pt_var_dyn	*vars;		/* variables defined by directives (var.c) */
	pt_phase_fn		 default_content; /* locations without a content
						   handler (static files), NULL = 404 */
};

/* an output header field of a response */
struct pt_http_out_field {
	struct pt_str	 name;
	struct pt_str	 value;
};

struct pt_request;
/* called when all queued output has been written (may queue more) */
typedef void (*pt_http_drain_fn)(struct pt_request *r);
/* a response header filter: may edit r->out_*; PT_OK or an error status */
typedef int (*pt_http_header_filter_fn)(struct pt_request *r);

/* per client connection HTTP state */
struct pt_http_conn {
	struct pt_conn		*c;
	struct pt_http_addr_servers *addr_servers;
	struct pt_buf		*in;		/* head/pipelined input, NULL when idle */
	struct pt_buf		 in_buf;	/* the header <in> points to */
	size_t			 scan;		/* pt_http_find_head_end progress */
	struct pt_request	*r;		/* current request or NULL */
	unsigned		 nrequests;	/* $connection_requests */
	struct pt_buf		*out;		/* queued output chain */
	struct pt_buf		*out_tail;
	size_t			 out_bytes;	/* bytes queued in <out> */
	unsigned		 closing:1;	/* close after the current response */
	struct pt_posted	 next_request;	/* process pipelined input later */
};

struct pt_request {
	unsigned		 magic;		/* PT_REQUEST_MAGIC */
	struct pt_pool		*pool;		/* freed at the end of the request */
	struct pt_conn		*c;		/* client connection */
	struct pt_http_conn	*hc;
	struct pt_http_srv	*srv;		/* selected server */
	struct pt_http_loc	*loc;		/* selected location (core conf) */
	void			**loc_conf;	/* == loc->loc_conf */
	void			**ctx;		/* per-module request state [pt_nmodules] */

	/* request head */
	struct pt_http_head	 head;		/* parsed fields, point into the head copy */
	char			*head_data;	/* request head bytes (owned by pool) */
	struct pt_str		 request_line;	/* "GET / HTTP/1.1" */
	struct pt_str		 method;
	enum pt_http_method	 method_id;
	int			 version;	/* 10 or 11 */
	struct pt_str		 unparsed_uri;	/* request-target as received */
	struct pt_str		 uri;		/* decoded, normalised path ($uri) */
	struct pt_str		 args;		/* query string, raw ($args) */
	struct pt_str		 host;		/* $host: Host lowercased w/o port, or server name */
	int			 internal_redirects;
	/* captures of the last successful regex match (worker/regex.c) */
	size_t			*captures;	/* offset pairs into <captures_data> */
	int			 ncaptures;	/* pairs valid */
	int			 captures_size;	/* pairs allocated */
	const char		*captures_data;
	const struct pt_regex	*captures_re;
	struct pt_str		*uvars;		/* values of "set" variables (rewrite module) */
	struct pt_http_loc	*named_loc;	/* internal redirect to @name pending */

	/* request body, consumed through pt_http_body_read() */
	int64_t			 body_left;	/* CL bytes not yet read, -1 chunked */
	struct pt_http_chunked	 chunked;	/* decoder state when chunked */
	uint64_t		 body_received;	/* decoded body bytes so far */
	unsigned		 body_chunked:1;
	unsigned		 body_done:1;	/* whole body read */
	unsigned		 expect_sent:1;	/* 100 Continue sent */

	/* response */
	int			 status;	/* response status */
	int			 err_status;	/* error_page: status that wins over the
						   page's own (0 = the page's) */
	struct pt_str		 status_line;	/* set to relay an upstream reason */
	struct pt_array		 out_fields;	/* struct pt_http_out_field */
	int64_t			 out_length;	/* Content-Length to send, -1 unknown */
	struct pt_str		 content_type;
	unsigned		 header_sent:1;
	unsigned		 header_only:1;	/* HEAD or 204/304: no body bytes */
	unsigned		 chunked_out:1;	/* we add chunked coding */
	unsigned		 body_prechunked:1; /* body bytes already carry chunked
						   coding (relayed): only the field is sent */
	unsigned		 keepalive:1;	/* connection may be reused */
	unsigned		 done:1;	/* finalized */
	unsigned		 response_incomplete:1; /* close instead of reusing */
	unsigned		 logged:1;
	unsigned		 in_phases:1;
	pt_http_drain_fn	 on_body;	/* see pt_http_body_wait() */
	pt_http_drain_fn	 on_drain;	/* see pt_http_send() */
	void			*on_drain_data;
	uint64_t		 body_bytes_sent;/* body bytes written */
	size_t			 header_bytes;	/* bytes of the response head */
	/*
	 * Response bandwidth (limit_rate, set by a header filter of the
	 * limit_rate module): when <limit_rate> > 0 the writer sends the
	 * first <limit_rate_after> bytes of the response at full speed, then
	 * at most <limit_rate> bytes per second, waiting on <rate_timer>
	 * between writes. The rest is the writer's (http.c).
	 */
	size_t			 limit_rate;	/* bytes per second, 0 = unlimited */
	size_t			 limit_rate_after;
	size_t			 rate_base;	/* c->sent at the first limited write */
	size_t			 rate_sent0;	/* response bytes out when the rate began */
	pt_msec_t		 rate_start;	/* when the rate began */
	unsigned		 rate_started:1;
	struct pt_timer		 rate_timer;

	/* bookkeeping */
	int			 phase;		/* current phase */
	int			 phase_handler;	/* index within the phase */
	pt_msec_t		 start_msec;	/* $request_time base */
	size_t			 request_length;/* head + body bytes received */
	struct pt_str		 upstream_addr;	/* set by the proxy ($upstream_addr) */
	struct pt_str		 upstream_status;
	struct pt_str		 upstream_response_time;
	struct pt_str		 upstream_connect_time;
	struct pt_str		 upstream_header_time;
	struct pt_str		 proxy_host;
	struct pt_http_head	*upstream_head;	/* for $upstream_http_* */
	enum pt_close_reason	 close_reason;
	const struct pt_sockaddr *real_addr;	/* realip: the client's address
						   ($remote_addr), NULL = c->peer */
	/* limit_req / limit_conn state: checked once per request and kept
	   across internal redirects (error_page), as in nginx */
	void			*limit_req_ctx;
	void			*limit_conn_ctx;
};

/* the client address of <r>: realip's if set, else the peer's */
#define pt_http_client_addr(r) \
	((r)->real_addr != NULL ? (r)->real_addr : &(r)->c->peer)

/* per-module request context */
#define pt_http_ctx(r, mod)		((r)->ctx[(mod)->index])
#define pt_http_set_ctx(r, mod, v)	((r)->ctx[(mod)->index] = (v))
/* typed accessors for a module's configuration of the request's location */
#define pt_http_loc_conf(r, mod)	((r)->loc_conf[(mod)->index])
#define pt_http_srv_conf(r, mod)	((r)->srv->srv_conf[(mod)->index])
#define pt_http_main_conf(cycle, mod)	((cycle)->http_conf[(mod)->index])

/* reason phrase for <status>, or "Unknown" */
const char	*pt_http_status_text(int status);

/* add an output header field (copied by reference: keep values alive in r->pool) */
void	pt_http_out_add(struct pt_request *r, struct pt_str name, struct pt_str value);

/*
 * Run the phases from r->phase on. Content handlers that go asynchronous
 * return PT_AGAIN and later call pt_http_finalize() themselves.
 */
void	pt_http_run_phases(struct pt_request *r);

/*
 * Serialise the response head (status, r->out_fields, framing decided
 * here: Content-Length when r->out_length >= 0, else chunked for 1.1
 * clients or close-delimited for 1.0) and queue it. PT_OK or PT_ERROR.
 */
int	pt_http_send_header(struct pt_request *r);
/*
 * Queue the body buffers <chain> (last one may have last_buf set) and try
 * to write. Chunked coding is added when r->chunked_out. Returns PT_OK
 * when everything queued was written, PT_AGAIN when output is pending
 * (r->on_drain is called once it has drained), PT_ERROR when the client
 * is gone. Buffers must stay valid until written; a buffer with its
 * <recycled> flag set is handed back through r->on_drain's owner by
 * comparing pos == last after the call.
 */
int	pt_http_send(struct pt_request *r, struct pt_buf *chain);
/* bytes queued for the client and not yet written */
size_t	pt_http_pending(struct pt_request *r);

/*
 * Finish the request. <rc>: PT_OK / PT_DONE (response complete or being
 * written), PT_ERROR (close the connection, no response), or an HTTP
 * status >= 300 to generate an error response (error_page applies) if no
 * header was sent yet; if the header was already sent, the connection is
 * closed so the client does not take a truncated response as complete.
 */
void	pt_http_finalize(struct pt_request *r, int rc);

/* a response with a short text body (return, errors); PT_OK or PT_ERROR */
int	pt_http_send_simple(struct pt_request *r, int status, struct pt_str ctype,
	    struct pt_str body);

/*
 * Read request body bytes into <b> (dechunked). Returns bytes appended
 * (> 0), 0 when the body is complete (r->body_done), PT_AGAIN (the
 * client's on_read will call <on_ready>(r) when more arrives), or a
 * negated HTTP status (-400 bad chunk framing, -413 over
 * client_max_body_size, -408 timeout is signalled through the handler),
 * PT_ERROR when the client went away.
 */
ssize_t	pt_http_body_read(struct pt_request *r, struct pt_buf *b);
/* the handler to call when body bytes may be read again */
void	pt_http_body_wait(struct pt_request *r, pt_http_drain_fn on_ready);

/* does an error_page of the request's location handle <status>? */
int	pt_http_has_error_page(struct pt_request *r, int status);

/* internal redirect to <uri> (error_page); keeps the request, reruns phases */
int	pt_http_internal_redirect(struct pt_request *r, struct pt_str uri);

/* register a header filter, ordered by <priority> (lower first) */
int	pt_http_filter_add(struct pt_cycle *cycle, int priority, pt_http_header_filter_fn fn);

/* the location for <uri> in <s> (exact, else longest prefix), or NULL */
struct pt_http_loc	*pt_http_find_location(struct pt_http_srv *s, struct pt_str uri);
/*
 * nginx's full location search for r->uri in r->srv: exact, longest
 * prefix (per nesting level), ^~, then regexes in config order (those
 * nested in the matched prefix first); a regex match leaves its captures
 * in <r>. Returns the location or NULL (no location matches).
 */
struct pt_http_loc	*pt_http_find_loc(struct pt_request *r);
/* the location @<name> of <s>, or NULL */
struct pt_http_loc	*pt_http_find_named(struct pt_http_srv *s, struct pt_str name);
/* the servers for connection <c>'s local address (wildcard listeners) */
struct pt_http_addr_servers *pt_http_addr_servers(struct pt_conn *c);
/* the server for <host> among those sharing one address */
struct pt_http_srv	*pt_http_find_server(struct pt_http_addr_servers *as, struct pt_str host);
/* set the captures of r->srv's ~regex name matching r->host */
void			 pt_http_server_captures(struct pt_request *r);

/* worker: accept handler for HTTP listeners */
void	pt_http_init_conn(struct pt_conn *c);

#endif /* PT_HTTP_H */
