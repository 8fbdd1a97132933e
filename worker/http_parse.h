/*
 * http_parse.h: strict HTTP/1.x message parsing (RFC 9110/9112).
 *
 * The head parsers work on a complete head: pt_http_find_head_end() scans
 * incoming bytes (resumable through <scan>) for the empty line and
 * enforces the size limits while the head is still incomplete; then
 * pt_http_parse_request()/pt_http_parse_response() parse it in one pass.
 * Parsed strings point into the caller's buffer (never copied). Nothing
 * here allocates except the field array, from <pool>.
 */
#ifndef PT_HTTP_PARSE_H
#define PT_HTTP_PARSE_H

#include "core.h"
#include "pool.h"

enum pt_http_method {
	PT_HTTP_UNKNOWN = 0,	/* a valid token we do not know: passed through */
	PT_HTTP_GET,
	PT_HTTP_HEAD,
	PT_HTTP_POST,
	PT_HTTP_PUT,
	PT_HTTP_DELETE,
	PT_HTTP_OPTIONS,
	PT_HTTP_PATCH,
	PT_HTTP_TRACE,
	PT_HTTP_CONNECT,
};

/* well-known fields, recognised case-insensitively while parsing */
enum pt_http_field_id {
	PT_HF_OTHER = 0,
	PT_HF_HOST,
	PT_HF_CONTENT_LENGTH,
	PT_HF_TRANSFER_ENCODING,
	PT_HF_CONNECTION,
	PT_HF_KEEP_ALIVE,
	PT_HF_PROXY_CONNECTION,
	PT_HF_TE,
	PT_HF_TRAILER,
	PT_HF_UPGRADE,
	PT_HF_EXPECT,
	PT_HF_COOKIE,
	PT_HF_USER_AGENT,
	PT_HF_REFERER,
	PT_HF_X_FORWARDED_FOR,
	PT_HF_LOCATION,
	PT_HF_REFRESH,
	PT_HF_CONTENT_TYPE,
	PT_HF_DATE,
	PT_HF_SERVER,
	PT_HF_PROXY_AUTHENTICATE,
	PT_HF_PROXY_AUTHORIZATION,
	PT_HF_MAX
};

struct pt_http_field {
	struct pt_str		 name;		/* as received */
	struct pt_str		 value;		/* leading/trailing OWS removed */
	enum pt_http_field_id	 id;		/* PT_HF_OTHER when not well-known */
	unsigned		 hop:1;		/* hop-by-hop: listed in Connection,
						   or a fixed hop-by-hop name */
};

/* flags from Connection/Transfer-Encoding/Expect, set by both head parsers */
#define PT_HTTP_CONN_CLOSE	0x01	/* Connection: close */
#define PT_HTTP_CONN_KEEPALIVE	0x02	/* Connection: keep-alive */
#define PT_HTTP_CONN_UPGRADE	0x04	/* Connection: upgrade */
#define PT_HTTP_CHUNKED		0x08	/* Transfer-Encoding ends in chunked */
#define PT_HTTP_EXPECT_CONTINUE	0x10	/* Expect: 100-continue */
#define PT_HTTP_HAS_CL		0x20	/* a valid Content-Length was given */

struct pt_http_head {
	/* request line (requests only) */
	struct pt_str		 method;	/* token */
	enum pt_http_method	 method_id;
	struct pt_str		 target;	/* request-target as received */
	/* status line (responses only) */
	int			 status;	/* 100..999 */
	struct pt_str		 reason;	/* may be empty */
	/* both */
	int			 version;	/* 10 or 11 (HTTP/1.0, HTTP/1.1) */
	struct pt_http_field	*fields;	/* in received order */
	int			 nfields;
	int			 idx[PT_HF_MAX];/* index of first field with id, -1 */
	int64_t			 content_length;/* -1 when absent */
	unsigned		 flags;		/* PT_HTTP_* above */
	size_t			 head_len;	/* bytes of the head incl. empty line */
};

struct pt_http_limits {
	size_t		 line_max;	/* request line (414) / one field line (431) */
	size_t		 head_max;	/* whole head (431) */
	int		 fields_max;	/* number of fields (431) */
};

/*
 * Look for the end of a head in <buf>[0..<len>). <scan> (0 on the first
 * call) remembers how far earlier calls got. Returns the head length
 * (> 0) when the empty line was found, PT_AGAIN when more bytes are
 * needed, or a negated status when a limit is already exceeded or the
 * bytes cannot be a head: -414 request line too long (requests),
 * -431 field line or head too large, -400 bare CR or NUL.
 * Lines may end in CRLF or LF.
 */
ssize_t	pt_http_find_head_end(const char *buf, size_t len, size_t *scan,
	    const struct pt_http_limits *lim, int is_request);

/*
 * Parse a complete request head of <len> bytes at <buf> into <h>.
 * Returns PT_OK or a negated status: -400 for any syntax violation
 * (bad method token, target with CTL/space, obs-fold, whitespace before
 * colon, CTL/NUL in names or values, invalid/duplicate-conflicting
 * Content-Length, Transfer-Encoding that is not exactly a final "chunked"
 * or any TE with HTTP/1.0, CL together with TE, more than one Host,
 * missing Host in HTTP/1.1), -431 more than lim->fields_max fields,
 * -505 version other than 1.0/1.1, -501 Transfer-Encoding coding other
 * than chunked (e.g. gzip, chunked) ... decided per RFC 9112 6.1.
 */
int	pt_http_parse_request(const char *buf, size_t len,
	    const struct pt_http_limits *lim, struct pt_pool *pool,
	    struct pt_http_head *h);

/*
 * Parse a complete response head. Returns PT_OK or PT_ERROR for any
 * violation (no valid status line, bad version, bad or conflicting
 * Content-Length, CL with TE, TE not ending in chunked is allowed only
 * as close-delimited: flags has no PT_HTTP_CHUNKED then, obs-fold,
 * bare CR, NUL/CTL in fields).
 */
int	pt_http_parse_response(const char *buf, size_t len,
	    const struct pt_http_limits *lim, struct pt_pool *pool,
	    struct pt_http_head *h);

/* chunked transfer-coding decoder state; zero it to start */
struct pt_http_chunked {
	int		 state;		/* internal */
	uint64_t	 size;		/* bytes left in the current chunk */
	size_t		 trailer_len;	/* bytes of trailer section seen */
	size_t		 line_len;	/* bytes of the current size/ext line */
};

/*
 * Decode chunked data from [*pos, end). Advances *pos past what it
 * consumed. Returns:
 *   PT_OK     with *data and *dlen set to a run of body bytes (inside the
 *             input) — call again for more;
 *   PT_AGAIN  all input consumed, need more;
 *   PT_DONE   last chunk and trailer section complete: *pos is just past
 *             the final CRLF (what follows belongs to the next message);
 *   PT_ERROR  bad framing: non-hex size, size overflowing 2^63, missing
 *             CRLF after data, bare CR, chunk-ext or trailer line over
 *             4096 bytes.
 * The raw bytes between the old and new *pos are valid chunked framing,
 * so a caller may forward them unchanged.
 */
int	pt_http_parse_chunked(struct pt_http_chunked *c, const char **pos,
	    const char *end, const char **data, size_t *dlen);

/*
 * Split and normalise a request-target in origin-form (or absolute-form,
 * whose scheme://authority is returned in <authority>). Percent-decodes
 * the path, merges "//", resolves "." and ".." segments; a ".." above the
 * root, "%00", or a malformed %XX is an error. Returns PT_OK with
 * <uri> (decoded, allocated from <pool>, NUL-terminated) and <args>
 * (the query after '?', raw, pointing into <target>), or -400.
 */
int	pt_http_parse_target(struct pt_pool *pool, struct pt_str target,
	    struct pt_str *uri, struct pt_str *args, struct pt_str *authority);

/*
 * Validate a Host value (host[:port]): reg-name, IPv4 or [IPv6] literal,
 * optional decimal port <= 65535; no userinfo, spaces or other bytes.
 * On PT_OK, <host> is the lowercased host without port and without a
 * trailing dot, allocated from <pool>. Returns PT_OK or -400.
 */
int	pt_http_parse_host(struct pt_pool *pool, struct pt_str value, struct pt_str *host);

enum pt_http_method pt_http_method_id(struct pt_str token);

#endif /* PT_HTTP_PARSE_H */
