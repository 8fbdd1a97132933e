/*
 * http_parse.c: strict HTTP/1.x parsing (RFC 9110, RFC 9112): request and
 * response heads, the chunked transfer-coding, request-targets and Host.
 *
 * This runs for every request and every upstream response in the
 * workers, so it is table-driven and makes one pass over the bytes:
 * memchr(3) finds line ends, a 256-entry class table checks the bytes in
 * between. It never copies the head; only the field array, a decoded
 * path and a lowercased host are allocated, from the caller's pool.
 *
 * Strictness is deliberate: anything that two HTTP implementations could
 * read differently (bare CR, obs-fold, duplicate Content-Length, CL with
 * TE, odd chunk sizes) is an error, because a proxy that accepts it
 * invites request smuggling.
 */
#include "core.h"
#include "pool.h"
#include "http_parse.h"

/* byte classes, combined in http_parse_cls[] */
#define HP_TCHAR	0x01	/* token (RFC 9110 5.6.2) */
#define HP_VALUE	0x02	/* field-value byte: VCHAR, obs-text, SP, HT */
#define HP_TARGET	0x04	/* request-target byte: VCHAR only */
#define HP_HEX		0x08	/* HEXDIG */
#define HP_REGNAME	0x10	/* host reg-name: unreserved, sub-delims */
#define HP_OWS		0x20	/* SP, HT */
#define HP_DIGIT	0x40	/* DIGIT */

#define HP_T	HP_TCHAR
#define HP_V	HP_VALUE
#define HP_G	HP_TARGET
#define HP_R	HP_REGNAME

static const uint8_t http_parse_cls[256] = {
	['\t'] = HP_V | HP_OWS,
	[' '] = HP_V | HP_OWS,
	['!'] = HP_T | HP_V | HP_G | HP_R,
	['"'] = HP_V | HP_G,
	['#'] = HP_T | HP_V | HP_G,
	['$'] = HP_T | HP_V | HP_G | HP_R,
	['%'] = HP_T | HP_V | HP_G,
	['&'] = HP_T | HP_V | HP_G | HP_R,
	['\''] = HP_T | HP_V | HP_G | HP_R,
	['('] = HP_V | HP_G | HP_R,
	[')'] = HP_V | HP_G | HP_R,
	['*'] = HP_T | HP_V | HP_G | HP_R,
	['+'] = HP_T | HP_V | HP_G | HP_R,
	[','] = HP_V | HP_G | HP_R,
	['-'] = HP_T | HP_V | HP_G | HP_R,
	['.'] = HP_T | HP_V | HP_G | HP_R,
	['/'] = HP_V | HP_G,
	['0' ... '9'] = HP_T | HP_V | HP_G | HP_HEX | HP_R | HP_DIGIT,
	[':'] = HP_V | HP_G,
	[';'] = HP_V | HP_G | HP_R,
	['<'] = HP_V | HP_G,
	['='] = HP_V | HP_G | HP_R,
	['>'] = HP_V | HP_G,
	['?'] = HP_V | HP_G,
	['@'] = HP_V | HP_G,
	['A' ... 'F'] = HP_T | HP_V | HP_G | HP_HEX | HP_R,
	['G' ... 'Z'] = HP_T | HP_V | HP_G | HP_R,
	['['] = HP_V | HP_G,
	['\\'] = HP_V | HP_G,
	[']'] = HP_V | HP_G,
	['^'] = HP_T | HP_V | HP_G,
	['_'] = HP_T | HP_V | HP_G | HP_R,
	['`'] = HP_T | HP_V | HP_G,
	['a' ... 'f'] = HP_T | HP_V | HP_G | HP_HEX | HP_R,
	['g' ... 'z'] = HP_T | HP_V | HP_G | HP_R,
	['{'] = HP_V | HP_G,
	['|'] = HP_T | HP_V | HP_G,
	['}'] = HP_V | HP_G,
	['~'] = HP_T | HP_V | HP_G | HP_R,
	[0x80 ... 0xff] = HP_V,
};

#define HP_IS(c, cls)	(http_parse_cls[(uint8_t)(c)] & (cls))
#define HP_LC(c)	((c) >= 'A' && (c) <= 'Z' ? (c) | 0x20 : (c))

/* fields that are hop-by-hop whatever Connection says (RFC 9110 7.6.1) */
static const uint8_t http_parse_hop[PT_HF_MAX] = {
	[PT_HF_CONNECTION] = 1,
	[PT_HF_KEEP_ALIVE] = 1,
	[PT_HF_PROXY_CONNECTION] = 1,
	[PT_HF_TE] = 1,
	[PT_HF_TRAILER] = 1,
	[PT_HF_TRANSFER_ENCODING] = 1,
	[PT_HF_UPGRADE] = 1,
};

/* bounds for the chunked decoder: lines per http_parse.h, the rest ours */
#define HP_CHUNK_LINE_MAX	4096	/* size line with chunk-ext, trailer line */
#define HP_CHUNK_TRAILER_MAX	32768	/* whole trailer section */
#define HP_CHUNK_DIGITS_MAX	16	/* hex digits of a chunk-size */

/* fields parsed on the stack before the copy to the pool */
#define HP_FIELDS_STACK		32

/* pt_http_find_head_end() keeps "a non-empty line was seen" in <scan> */
#define HP_SCAN_SEEN	((size_t)1 << (sizeof(size_t) * 8 - 1))

/* what the field loop learns for the checks made once all fields are in */
struct http_parse_ctx {
	unsigned	 nhost;		/* Host fields */
	unsigned	 te;		/* a Transfer-Encoding field was seen */
	unsigned	 te_codings;	/* transfer-codings listed, all fields */
	unsigned	 te_chunked;	/* of which "chunked" */
	unsigned	 te_other;	/* a coding other than chunked was listed */
	unsigned	 te_last_chunked;/* the last coding so far is chunked */
	unsigned	 te_bad;	/* a list element is not a coding */
	unsigned	 conn_names;	/* Connection lists a name to strip */
};

/*
 * <s> (<n> bytes, already checked to hold no CTL) equals the lowercase
 * <lc>, ignoring case. OR-ing 0x20 is exact for the <lc> used here
 * (letters, digits, "-:/"): the only other byte mapping onto each of
 * them is a letter's upper case or a CTL.
 */
static inline int
http_parse_eq_lc(const char *s, const char *lc, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (((uint8_t)s[i] | 0x20) != (uint8_t)lc[i])
			return 0;
	return 1;
}

#define HP_EQ(s, n, lc)	\
	((n) == sizeof(lc) - 1 && http_parse_eq_lc((s), (lc), sizeof(lc) - 1))

/* case-insensitive equality of two tokens of <n> bytes */
static inline int
http_parse_eq_ci(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (HP_LC((uint8_t)a[i]) != HP_LC((uint8_t)b[i]))
			return 0;
	return 1;
}

/* value of a hex digit, or -1 */
static inline int
http_parse_hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Word-at-a-time checks (the "has a byte less than n" bit trick): exact
 * for telling whether some byte matches, which is all we ask of them.
 */
#define HP_ONES		0x0101010101010101ULL
#define HP_HIGHS	0x8080808080808080ULL
#define HP_HAS_LESS(w, n)	(((w) - HP_ONES * (n)) & ~(w) & HP_HIGHS)
#define HP_HAS_BYTE(w, b)	HP_HAS_LESS((w) ^ (HP_ONES * (b)), 1)

/*
 * [s, e) holds only bytes of class <cls>: HP_VALUE (HT, SP, VCHAR,
 * obs-text) or HP_TARGET (VCHAR). Clean text is tested eight bytes per
 * step; a word holding a CTL, DEL (or for targets SP or obs-text) goes
 * through the table, since HT is fine in values.
 */
static inline int
http_parse_bytes_ok(const char *s, const char *e, uint8_t cls)
{
	uint64_t	 w, bad;
	int		 i;

	for (; e - s >= 8; s += 8) {
		memcpy(&w, s, 8);
		bad = HP_HAS_BYTE(w, 0x7f);
		if (cls == HP_TARGET)
			bad |= HP_HAS_LESS(w, 0x21) | (w & HP_HIGHS);
		else
			bad |= HP_HAS_LESS(w, 0x20);
		if (pt_unlikely(bad != 0))
			for (i = 0; i < 8; i++)
				if (!HP_IS(s[i], cls))
					return 0;
	}
	for (; s < e; s++)
		if (!HP_IS(*s, cls))
			return 0;
	return 1;
}

static enum pt_http_field_id
http_parse_field_id(const char *s, size_t n)
{
#define HP_ID(lc, id)	\
	do { if (http_parse_eq_lc(s, lc, n)) return id; } while (0)

	/* the length picks the candidates; the lengths below are exact */
	switch (n) {
	case 2:
		HP_ID("te", PT_HF_TE);
		break;
	case 4:
		HP_ID("host", PT_HF_HOST);
		HP_ID("date", PT_HF_DATE);
		break;
	case 6:
		HP_ID("cookie", PT_HF_COOKIE);
		HP_ID("expect", PT_HF_EXPECT);
		HP_ID("server", PT_HF_SERVER);
		break;
	case 7:
		HP_ID("referer", PT_HF_REFERER);
		HP_ID("upgrade", PT_HF_UPGRADE);
		HP_ID("trailer", PT_HF_TRAILER);
		HP_ID("refresh", PT_HF_REFRESH);
		break;
	case 8:
		HP_ID("location", PT_HF_LOCATION);
		break;
	case 10:
		HP_ID("user-agent", PT_HF_USER_AGENT);
		HP_ID("connection", PT_HF_CONNECTION);
		HP_ID("keep-alive", PT_HF_KEEP_ALIVE);
		break;
	case 12:
		HP_ID("content-type", PT_HF_CONTENT_TYPE);
		break;
	case 14:
		HP_ID("content-length", PT_HF_CONTENT_LENGTH);
		break;
	case 15:
		HP_ID("x-forwarded-for", PT_HF_X_FORWARDED_FOR);
		break;
	case 16:
		HP_ID("proxy-connection", PT_HF_PROXY_CONNECTION);
		break;
	case 17:
		HP_ID("transfer-encoding", PT_HF_TRANSFER_ENCODING);
		break;
	case 18:
		HP_ID("proxy-authenticate", PT_HF_PROXY_AUTHENTICATE);
		break;
	case 19:
		HP_ID("proxy-authorization", PT_HF_PROXY_AUTHORIZATION);
		break;
	}
	return PT_HF_OTHER;
#undef HP_ID
}

/*
 * Next element of a comma-separated list (RFC 9110 5.6.1) in [*p, end):
 * empty elements and OWS around them are skipped. Returns 1 with <e>
 * set, or 0 at the end of the list.
 */
static int
http_parse_list_next(const char **p, const char *end, struct pt_str *e)
{
	const char *s = *p, *t;

	while (s < end && (*s == ',' || HP_IS(*s, HP_OWS)))
		s++;
	if (s == end) {
		*p = s;
		return 0;
	}
	t = memchr(s, ',', (size_t)(end - s));
	*p = t != NULL ? t : end;
	for (t = *p; t > s && HP_IS(t[-1], HP_OWS); t--)
		;
	e->data = s;
	e->len = (size_t)(t - s);
	return 1;
}

/* <e> consists of token characters only */
static int
http_parse_is_token(struct pt_str e)
{
	size_t i;

	for (i = 0; i < e.len; i++)
		if (!HP_IS(e.data[i], HP_TCHAR))
			return 0;
	return e.len > 0;
}

/*
 * Content-Length: 1*DIGIT, or a list of identical values (RFC 9110 8.6).
 * Every value of every Content-Length field must agree. Empty list
 * elements are refused: they are not a length.
 */
static int
http_parse_content_length(struct pt_http_head *h, struct pt_str v)
{
	const char	*s = v.data, *end = v.data + v.len;
	uint64_t	 n;

	for (;;) {
		if (s == end || !HP_IS(*s, HP_DIGIT))
			return -400;
		for (n = 0; s < end && HP_IS(*s, HP_DIGIT); s++) {
			if (n > ((uint64_t)INT64_MAX - (uint64_t)(*s - '0')) / 10)
				return -400;
			n = n * 10 + (uint64_t)(*s - '0');
		}
		if ((h->flags & PT_HTTP_HAS_CL) && (uint64_t)h->content_length != n)
			return -400;
		h->content_length = (int64_t)n;
		h->flags |= PT_HTTP_HAS_CL;
		while (s < end && HP_IS(*s, HP_OWS))
			s++;
		if (s == end)
			return PT_OK;
		if (*s++ != ',')
			return -400;
		while (s < end && HP_IS(*s, HP_OWS))
			s++;
	}
}

/*
 * One Transfer-Encoding field: record its codings in <x>. Whether the
 * whole list is acceptable depends on every field and on the message
 * kind, so that is decided after the last field.
 */
static void
http_parse_te(struct http_parse_ctx *x, struct pt_str v)
{
	const char	*p = v.data, *end = v.data + v.len, *s;
	struct pt_str	 e;
	size_t		 n;

	x->te = 1;
	while (http_parse_list_next(&p, end, &e)) {
		for (s = e.data; s < e.data + e.len && HP_IS(*s, HP_TCHAR); s++)
			;
		n = (size_t)(s - e.data);
		x->te_codings++;
		if (n == 0) {
			x->te_bad = 1;
			continue;
		}
		if (n == e.len && HP_EQ(e.data, n, "chunked")) {
			x->te_chunked++;
			x->te_last_chunked = 1;
			continue;
		}
		/* chunked takes no parameters: "chunked;x=y" is refused too */
		if (HP_EQ(e.data, n, "chunked"))
			x->te_bad = 1;
		/* parameters of other codings are not ours to check */
		while (s < e.data + e.len && HP_IS(*s, HP_OWS))
			s++;
		if (s < e.data + e.len && *s != ';')
			x->te_bad = 1;
		x->te_other = 1;
		x->te_last_chunked = 0;
	}
}

/* Connection: a list of tokens; options set flags, others name fields */
static int
http_parse_connection(struct pt_http_head *h, struct http_parse_ctx *x,
    struct pt_str v)
{
	const char	*p = v.data, *end = v.data + v.len;
	struct pt_str	 e;

	while (http_parse_list_next(&p, end, &e)) {
		if (!http_parse_is_token(e))
			return -400;
		if (HP_EQ(e.data, e.len, "keep-alive"))
			h->flags |= PT_HTTP_CONN_KEEPALIVE;
		else if (HP_EQ(e.data, e.len, "upgrade"))
			h->flags |= PT_HTTP_CONN_UPGRADE;
		else {
			/* "close" too: a field named Close is hop-by-hop */
			if (HP_EQ(e.data, e.len, "close"))
				h->flags |= PT_HTTP_CONN_CLOSE;
			x->conn_names = 1;
		}
	}
	return PT_OK;
}

/*
 * Mark the fields that the Connection fields name as hop-by-hop. Host and
 * Content-Length are never marked: dropping them on a client's word would
 * change how the next hop routes or frames the message.
 */
static void
http_parse_mark_hop(struct pt_http_head *h)
{
	const char	*p, *end;
	struct pt_str	 e;
	int		 i, j;

	for (i = h->idx[PT_HF_CONNECTION]; i < h->nfields; i++) {
		if (h->fields[i].id != PT_HF_CONNECTION)
			continue;
		p = h->fields[i].value.data;
		end = p + h->fields[i].value.len;
		while (http_parse_list_next(&p, end, &e)) {
			for (j = 0; j < h->nfields; j++) {
				struct pt_http_field *f = &h->fields[j];

				if (f->name.len == e.len && !f->hop &&
				    f->id != PT_HF_HOST &&
				    f->id != PT_HF_CONTENT_LENGTH &&
				    http_parse_eq_ci(f->name.data, e.data, e.len))
					f->hop = 1;
			}
		}
	}
}

/* end of the line starting at <p>: *lf is the LF, returns CR or LF */
static inline const char *
http_parse_eol(const char *p, const char *end, const char **lf)
{
	const char *l;

	l = memchr(p, '\n', (size_t)(end - p));
	*lf = l;
	if (l == NULL)
		return NULL;
	return l > p && l[-1] == '\r' ? l - 1 : l;
}

/*
 * HTTP-version at [s, s + n): 1.0 and 1.1 are ours; another well-formed
 * HTTP/d.d is -505 (RFC 9110 15.6.6), anything else -400.
 */
static int
http_parse_version(const char *s, size_t n, int *version)
{
	if (n != 8 || memcmp(s, "HTTP/", 5) != 0 || !HP_IS(s[5], HP_DIGIT) ||
	    s[6] != '.' || !HP_IS(s[7], HP_DIGIT))
		return -400;
	if (s[5] != '1' || (s[7] != '0' && s[7] != '1'))
		return -505;
	*version = s[7] == '1' ? 11 : 10;
	return PT_OK;
}

static void
http_parse_head_init(struct pt_http_head *h)
{
	memset(h, 0, sizeof(*h));
	memset(h->idx, 0xff, sizeof(h->idx));	/* all -1 */
	h->content_length = -1;
}

/*
 * The field lines from <p> up to and including the empty line, shared by
 * both head parsers. Fills h->fields, nfields, idx, flags, content_length
 * and head_len, and <x> for the message-kind checks. Returns PT_OK, -400
 * or -431.
 */
static int
http_parse_fields(const char *buf, const char *p, const char *end,
    const struct pt_http_limits *lim, struct pt_pool *pool,
    struct pt_http_head *h, struct http_parse_ctx *x)
{
	struct pt_http_field	 stack[HP_FIELDS_STACK], *fa, *f;
	enum pt_http_field_id	 id;
	const char		*lf, *eol, *s, *v;
	int			 n, cap, rc;

	/*
	 * Fields go to the stack first and are copied to an array of the
	 * exact size at the end: cheaper than counting lines beforehand, and
	 * no pool memory is wasted on the usual head. Larger heads spill to
	 * a pool array that doubles.
	 */
	fa = stack;
	cap = HP_FIELDS_STACK;
	for (n = 0;; n++) {
		eol = http_parse_eol(p, end, &lf);
		if (eol == NULL)
			return -400;		/* no empty line */
		if (eol == p)
			break;
		if (n >= lim->fields_max)
			return -431;
		if (n == cap) {
			cap = PT_MIN(cap * 2, lim->fields_max);
			f = pt_palloc(pool, (size_t)cap * sizeof(*f));
			memcpy(f, fa, (size_t)n * sizeof(*f));
			fa = f;
		}
		for (s = p; s < eol && HP_IS(*s, HP_TCHAR); s++)
			;
		/*
		 * No token before ':' refuses an empty name, space before the
		 * colon, obs-fold and whitespace before the first field (RFC
		 * 9112 5.1, 5.2, 2.2).
		 */
		if (s == p || s == eol || *s != ':')
			return -400;
		f = &fa[n];
		f->name.data = p;
		f->name.len = (size_t)(s - p);
		for (v = s + 1; v < eol && HP_IS(*v, HP_OWS); v++)
			;
		/* a CR here is a bare one: the line's own CR is past <eol> */
		if (!http_parse_bytes_ok(v, eol, HP_VALUE))
			return -400;
		for (s = eol; s > v && HP_IS(s[-1], HP_OWS); s--)
			;
		f->value.data = v;
		f->value.len = (size_t)(s - v);
		id = http_parse_field_id(f->name.data, f->name.len);
		f->id = id;
		f->hop = http_parse_hop[id];
		if (h->idx[id] < 0)
			h->idx[id] = n;

		switch (id) {
		case PT_HF_HOST:
			x->nhost++;
			break;
		case PT_HF_CONTENT_LENGTH:
			if ((rc = http_parse_content_length(h, f->value)) != PT_OK)
				return rc;
			break;
		case PT_HF_TRANSFER_ENCODING:
			http_parse_te(x, f->value);
			break;
		case PT_HF_CONNECTION:
			if ((rc = http_parse_connection(h, x, f->value)) != PT_OK)
				return rc;
			break;
		case PT_HF_EXPECT:
			if (HP_EQ(f->value.data, f->value.len, "100-continue"))
				h->flags |= PT_HTTP_EXPECT_CONTINUE;
			break;
		default:
			break;
		}
		p = lf + 1;
	}
	if (fa == stack && n > 0) {
		fa = pt_palloc(pool, (size_t)n * sizeof(*f));
		memcpy(fa, stack, (size_t)n * sizeof(*f));
	}
	h->fields = n > 0 ? fa : NULL;
	h->nfields = n;
	h->head_len = (size_t)(lf + 1 - buf);
	if (x->conn_names)
		http_parse_mark_hop(h);
	return PT_OK;
}

/*
 * Scan for the end of a head. <scan> holds the start of the line not yet
 * complete (only whole lines are ever judged) and, in its top bit, whether
 * a non-empty line has been seen: empty lines before the request-line are
 * skipped (RFC 9112 2.2), so they do not end the head.
 */
ssize_t
pt_http_find_head_end(const char *buf, size_t len, size_t *scan,
    const struct pt_http_limits *lim, int is_request)
{
	const char	*lf;
	size_t		 seen, p, stop, n, end;
	int		 toolong;

	seen = *scan & HP_SCAN_SEEN;
	p = *scan & ~HP_SCAN_SEEN;
	end = PT_MIN(len, lim->head_max);
	while (p < end) {
		lf = memchr(buf + p, '\n', end - p);
		stop = lf != NULL ? (size_t)(lf - buf) : end;
		/* content length without the CR of CRLF (or a CR still alone) */
		n = stop - p;
		if (n > 0 && buf[stop - 1] == '\r')
			n--;
		toolong = n > lim->line_max;
		if (toolong) {
			/*
			 * Judge only the bytes a caller fed piecemeal would have had
			 * when the line went over: the same input must get the same
			 * answer however it arrives.
			 */
			stop = p + lim->line_max + (buf[p + lim->line_max] == '\r');
			n = stop - p;
			if (n > 0 && buf[stop - 1] == '\r')
				n--;
		}
		/* memchr(3) is vectorised: two passes beat one by hand */
		if (memchr(buf + p, '\0', stop - p) != NULL ||
		    memchr(buf + p, '\r', n) != NULL)
			return -400;
		if (toolong)
			return seen || !is_request ? -431 : -414;
		if (lf == NULL)
			break;
		/* an upstream gets no leniency: its lines end in CRLF */
		if (!is_request && (stop == 0 || buf[stop - 1] != '\r'))
			return -400;
		if (n == 0) {
			if (seen || !is_request)
				return (ssize_t)stop + 1;
		} else
			seen = HP_SCAN_SEEN;
		p = stop + 1;
	}
	*scan = p | seen;
	/* the head has not ended within head_max bytes */
	if (len >= lim->head_max)
		return -431;
	return PT_AGAIN;
}

/*
 * Parse a request head: request-line, then fields, then the checks that
 * need every field (framing, Host). The order of the framing checks
 * follows RFC 9112 6.1 and 6.3.
 */
int
pt_http_parse_request(const char *buf, size_t len,
    const struct pt_http_limits *lim, struct pt_pool *pool,
    struct pt_http_head *h)
{
	struct http_parse_ctx	 x;
	const char		*p = buf, *end = buf + len, *lf, *eol, *s, *t;
	int			 rc;

	http_parse_head_init(h);
	memset(&x, 0, sizeof(x));

	/* RFC 9112 2.2: empty lines before the request-line are ignored */
	while (p < end) {
		if (*p == '\n')
			p++;
		else if (*p == '\r' && end - p >= 2 && p[1] == '\n')
			p += 2;
		else
			break;
	}

	/* method SP request-target SP HTTP-version, single spaces */
	eol = http_parse_eol(p, end, &lf);
	if (eol == NULL)
		return -400;
	for (s = p; s < eol && HP_IS(*s, HP_TCHAR); s++)
		;
	if (s == p || s == eol || *s != ' ')
		return -400;
	h->method.data = p;
	h->method.len = (size_t)(s - p);
	h->method_id = pt_http_method_id(h->method);
	/*
	 * A valid version is 8 bytes at the end of the line, which delimits
	 * the target without scanning for the space; a space inside the
	 * target (or a doubled one) then fails the byte check.
	 */
	t = s + 1;
	if (eol - t < 10 || eol[-9] != ' ' ||
	    !http_parse_bytes_ok(t, eol - 9, HP_TARGET))
		return -400;
	h->target.data = t;
	h->target.len = (size_t)(eol - 9 - t);
	if ((rc = http_parse_version(eol - 8, 8, &h->version)) != PT_OK)
		return rc;
	/* asterisk-form belongs to OPTIONS only (RFC 9112 3.2.4) */
	if (h->target.len == 1 && *t == '*' && h->method_id != PT_HTTP_OPTIONS)
		return -400;

	rc = http_parse_fields(buf, lf + 1, end, lim, pool, h, &x);
	if (rc != PT_OK)
		return rc;

	if (x.nhost > 1 || (x.nhost == 0 && h->version == 11))
		return -400;
	if (x.te) {
		/* an HTTP/1.0 message with TE has faulty framing (9112 6.1) */
		if (h->version == 10 || (h->flags & PT_HTTP_HAS_CL))
			return -400;
		if (x.te_bad || !x.te_last_chunked || x.te_chunked > 1)
			return -400;
		if (x.te_other)
			return -501;
		h->flags |= PT_HTTP_CHUNKED;
	}
	return PT_OK;
}

/*
 * Parse a response head. Any violation is PT_ERROR: the caller answers
 * 502 whatever the reason, so finer codes would not be used.
 */
int
pt_http_parse_response(const char *buf, size_t len,
    const struct pt_http_limits *lim, struct pt_pool *pool,
    struct pt_http_head *h)
{
	struct http_parse_ctx	 x;
	const char		*end = buf + len, *lf, *eol;

	http_parse_head_init(h);
	memset(&x, 0, sizeof(x));

	/* HTTP-version SP 3DIGIT SP [reason]; "HTTP/1.1 200" is tolerated */
	eol = http_parse_eol(buf, end, &lf);
	if (eol == NULL || eol - buf < 12)
		return PT_ERROR;
	if (http_parse_version(buf, 8, &h->version) != PT_OK || buf[8] != ' ' ||
	    buf[9] < '1' || buf[9] > '9' || !HP_IS(buf[10], HP_DIGIT) ||
	    !HP_IS(buf[11], HP_DIGIT))
		return PT_ERROR;
	h->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + buf[11] - '0';
	if (eol > buf + 12) {
		if (buf[12] != ' ')
			return PT_ERROR;
		if (!http_parse_bytes_ok(buf + 13, eol, HP_VALUE))
			return PT_ERROR;
		h->reason.data = buf + 13;
		h->reason.len = (size_t)(eol - (buf + 13));
	}

	if (http_parse_fields(buf, lf + 1, end, lim, pool, h, &x) != PT_OK)
		return PT_ERROR;

	if (x.te) {
		if (h->version == 10 || (h->flags & PT_HTTP_HAS_CL) ||
		    x.te_bad || x.te_codings == 0 || x.te_chunked > 1)
			return PT_ERROR;
		/* not ending in chunked: the body runs until close (9112 6.3) */
		if (x.te_last_chunked)
			h->flags |= PT_HTTP_CHUNKED;
	}
	return PT_OK;
}

enum http_parse_chunk_state {
	HP_CH_SIZE = 0,		/* chunk-size hex digits */
	HP_CH_SIZE_WS,		/* BWS after the size: only ';' may follow */
	HP_CH_EXT,		/* chunk-ext, skipped */
	HP_CH_SIZE_LF,		/* CR ended the size line */
	HP_CH_DATA,		/* chunk-data, <size> bytes left */
	HP_CH_DATA_CR,		/* CRLF after chunk-data */
	HP_CH_DATA_LF,
	HP_CH_TRAILER,		/* start of a trailer line or the final CRLF */
	HP_CH_TRAILER_NAME,
	HP_CH_TRAILER_VALUE,
	HP_CH_TRAILER_LF,
	HP_CH_FINAL_LF,		/* CR of the final CRLF seen */
	HP_CH_DONE,
	HP_CH_ERROR		/* sticky: later calls fail too */
};

/*
 * Chunked decoder (RFC 9112 7.1). Framing bytes go through a small state
 * machine one at a time; they are few. Data is handed out in runs that
 * point into the input, so the body is never copied here.
 */
int
pt_http_parse_chunked(struct pt_http_chunked *c, const char **pos,
    const char *end, const char **data, size_t *dlen)
{
	const char	*p = *pos;
	size_t		 n;
	uint8_t		 ch;
	int		 d;

	while (p < end) {
		if (c->state == HP_CH_DATA) {
			n = (size_t)(end - p);
			if ((uint64_t)n > c->size)
				n = (size_t)c->size;
			*data = p;
			*dlen = n;
			c->size -= n;
			if (c->size == 0)
				c->state = HP_CH_DATA_CR;
			*pos = p + n;
			return PT_OK;
		}
		if (c->state >= HP_CH_DONE)
			break;
		ch = (uint8_t)*p++;

		switch (c->state) {
		case HP_CH_SIZE:
			if ((d = http_parse_hexval(ch)) >= 0) {
				if (c->line_len >= HP_CHUNK_DIGITS_MAX ||
				    c->size > ((uint64_t)INT64_MAX - (uint64_t)d) >> 4)
					goto fail;
				c->size = c->size << 4 | (uint64_t)d;
				c->line_len++;
				break;
			}
			if (c->line_len == 0)
				goto fail;
			if (ch == '\r')
				c->state = HP_CH_SIZE_LF;
			else if (ch == '\n')
				goto size_done;
			else if (ch == ';')
				c->state = HP_CH_EXT;
			else if (ch == ' ' || ch == '\t')
				c->state = HP_CH_SIZE_WS;
			else
				goto fail;
			c->line_len++;
			break;
		case HP_CH_SIZE_WS:
			/* BWS is allowed before ';' only, not before CRLF */
			if (ch == ';')
				c->state = HP_CH_EXT;
			else if (ch != ' ' && ch != '\t')
				goto fail;
			if (++c->line_len > HP_CHUNK_LINE_MAX)
				goto fail;
			break;
		case HP_CH_EXT:
			if (ch == '\r')
				c->state = HP_CH_SIZE_LF;
			else if (ch == '\n')
				goto size_done;
			else if (!HP_IS(ch, HP_VALUE) ||
			    ++c->line_len > HP_CHUNK_LINE_MAX)
				goto fail;
			break;
		case HP_CH_SIZE_LF:
			if (ch != '\n')
				goto fail;
		size_done:
			c->line_len = 0;
			c->trailer_len = 0;
			c->state = c->size > 0 ? HP_CH_DATA : HP_CH_TRAILER;
			break;
		case HP_CH_DATA_CR:
			if (ch != '\r')
				goto fail;
			c->state = HP_CH_DATA_LF;
			break;
		case HP_CH_DATA_LF:
			if (ch != '\n')
				goto fail;
			c->state = HP_CH_SIZE;
			break;
		case HP_CH_TRAILER:
			if (ch == '\r') {
				c->state = HP_CH_FINAL_LF;
				break;
			}
			if (ch == '\n')
				goto done;
			if (!HP_IS(ch, HP_TCHAR))
				goto fail;	/* obs-fold, or no field name */
			c->state = HP_CH_TRAILER_NAME;
			c->line_len = 0;
			goto trailer_count;
		case HP_CH_TRAILER_NAME:
			if (ch == ':')
				c->state = HP_CH_TRAILER_VALUE;
			else if (!HP_IS(ch, HP_TCHAR))
				goto fail;
			goto trailer_count;
		case HP_CH_TRAILER_VALUE:
			if (ch == '\r') {
				c->state = HP_CH_TRAILER_LF;
				break;
			}
			if (ch == '\n') {
				c->state = HP_CH_TRAILER;
				break;
			}
			if (!HP_IS(ch, HP_VALUE))
				goto fail;
		trailer_count:
			/* line ends are not counted, the limits are on content */
			if (++c->line_len > HP_CHUNK_LINE_MAX ||
			    ++c->trailer_len > HP_CHUNK_TRAILER_MAX)
				goto fail;
			break;
		case HP_CH_TRAILER_LF:
			if (ch != '\n')
				goto fail;
			c->state = HP_CH_TRAILER;
			break;
		case HP_CH_FINAL_LF:
			if (ch != '\n')
				goto fail;
			goto done;
		default:
			goto fail;
		}
	}
	*pos = p;
	if (c->state == HP_CH_DONE)
		return PT_DONE;
	if (c->state == HP_CH_ERROR)
		return PT_ERROR;
	return PT_AGAIN;

done:
	c->state = HP_CH_DONE;
	*pos = p;
	return PT_DONE;
fail:
	c->state = HP_CH_ERROR;
	*pos = p;
	return PT_ERROR;
}

/*
 * The path segment [*seg, *o) of the decoded path at <out> has ended; a
 * '/' follows when <slash>. Drops empty and "." segments, and ".." with
 * its parent (RFC 3986 5.2.4). Returns PT_ERROR for ".." above the root.
 */
static int
http_parse_segment(char *out, char **o, char **seg, int slash)
{
	char	*s = *seg;
	size_t	 n = (size_t)(*o - s);

	if (n == 0)
		return PT_OK;		/* "//" is merged */
	if (n == 1 && s[0] == '.') {
		*o = s;
		return PT_OK;
	}
	if (n == 2 && s[0] == '.' && s[1] == '.') {
		if (s - 1 == out)
			return PT_ERROR;
		/* back over the slash and the parent segment (never empty) */
		for (s--; s[-1] != '/'; s--)
			;
		*o = *seg = s;
		return PT_OK;
	}
	if (slash) {
		*(*o)++ = '/';
		*seg = *o;
	}
	return PT_OK;
}

/*
 * Decode and normalise a request-target. A decoded "/" or "." counts as
 * the real one (as in nginx), so "%2e%2e" cannot smuggle a ".." past the
 * normalisation. The uri buffer needs at most the raw path length plus a
 * leading "/" and the NUL: decoding and merging only shrink it.
 */
int
pt_http_parse_target(struct pt_pool *pool, struct pt_str target,
    struct pt_str *uri, struct pt_str *args, struct pt_str *authority)
{
	const char	*p = target.data, *end = p + target.len, *path, *pend, *s;
	char		*out, *o, *seg;
	uint8_t		 ch;
	int		 hi, lo;

	*uri = PT_NULL_STR;
	*args = PT_NULL_STR;
	*authority = PT_NULL_STR;
	if (target.len == 0)
		return -400;
	if (!http_parse_bytes_ok(p, end, HP_TARGET) ||
	    memchr(p, '#', target.len) != NULL)
		return -400;
	if (target.len == 1 && *p == '*') {
		*uri = PT_STR("*");
		return PT_OK;
	}

	if (*p == '/')
		path = p;
	else {
		/* absolute-form: only http(s), and a non-empty authority */
		if (target.len > 7 && http_parse_eq_lc(p, "http://", 7))
			s = p + 7;
		else if (target.len > 8 && http_parse_eq_lc(p, "https://", 8))
			s = p + 8;
		else
			return -400;
		for (path = s; path < end && *path != '/' && *path != '?'; path++)
			;
		if (path == s)
			return -400;
		authority->data = s;
		authority->len = (size_t)(path - s);
	}
	pend = memchr(path, '?', (size_t)(end - path));
	if (pend != NULL) {
		args->data = pend + 1;
		args->len = (size_t)(end - pend - 1);
	} else
		pend = end;

	out = pt_palloc(pool, (size_t)(pend - path) + 2);
	o = out;
	*o++ = '/';
	seg = o;
	for (s = path < pend ? path + 1 : path; s < pend;) {
		ch = (uint8_t)*s++;
		if (ch == '%') {
			if (pend - s < 2)
				return -400;
			hi = http_parse_hexval((uint8_t)s[0]);
			lo = http_parse_hexval((uint8_t)s[1]);
			if (hi < 0 || lo < 0 || (hi | lo) == 0)
				return -400;
			ch = (uint8_t)(hi << 4 | lo);
			s += 2;
		}
		if (ch != '/')
			*o++ = (char)ch;
		else if (http_parse_segment(out, &o, &seg, 1) != PT_OK)
			return -400;
	}
	if (http_parse_segment(out, &o, &seg, 0) != PT_OK)
		return -400;
	*o = '\0';
	uri->data = out;
	uri->len = (size_t)(o - out);
	return PT_OK;
}

/*
 * Validate Host (RFC 9110 7.2, RFC 3986 3.2.2). Percent-encoding in a
 * reg-name is refused: no client needs it and it would let two spellings
 * of one name select different servers.
 */
int
pt_http_parse_host(struct pt_pool *pool, struct pt_str value,
    struct pt_str *host)
{
	const char	*p = value.data, *end = p + value.len, *s, *hend;
	char		*out;
	size_t		 n, i;
	unsigned	 port, colons;

	*host = PT_NULL_STR;
	if (value.len == 0)
		return -400;
	if (*p == '[') {
		/* IP-literal: hex, ':' and '.' for an embedded IPv4 */
		colons = 0;
		for (s = p + 1; s < end && *s != ']'; s++) {
			if (*s == ':')
				colons++;
			else if (!HP_IS(*s, HP_HEX) && *s != '.')
				return -400;
		}
		if (s == end || colons < 2)
			return -400;
		hend = ++s;
	} else {
		for (s = p; s < end && HP_IS(*s, HP_REGNAME); s++)
			;
		hend = s;
	}
	if (s < end) {
		/* an empty port is allowed (RFC 3986 3.2.3) */
		if (*s++ != ':')
			return -400;
		if (end - s > 5)
			return -400;
		for (port = 0; s < end; s++) {
			if (!HP_IS(*s, HP_DIGIT))
				return -400;
			port = port * 10 + (unsigned)(*s - '0');
		}
		if (hend + 1 < end && (port == 0 || port > 65535))
			return -400;
	}
	n = (size_t)(hend - p);
	if (n > 0 && *p != '[' && p[n - 1] == '.')
		n--;
	if (n == 0)
		return -400;
	out = pt_palloc(pool, n + 1);
	for (i = 0; i < n; i++)
		out[i] = (char)HP_LC((uint8_t)p[i]);
	out[n] = '\0';
	host->data = out;
	host->len = n;
	return PT_OK;
}

/* the method's id; methods are case-sensitive (RFC 9110 9.1) */
enum pt_http_method
pt_http_method_id(struct pt_str token)
{
	const char *s = token.data;

#define HP_M(lit, id)	\
	do { if (memcmp(s, lit, sizeof(lit) - 1) == 0) return id; } while (0)

	switch (token.len) {
	case 3:
		HP_M("GET", PT_HTTP_GET);
		HP_M("PUT", PT_HTTP_PUT);
		break;
	case 4:
		HP_M("HEAD", PT_HTTP_HEAD);
		HP_M("POST", PT_HTTP_POST);
		break;
	case 5:
		HP_M("PATCH", PT_HTTP_PATCH);
		HP_M("TRACE", PT_HTTP_TRACE);
		break;
	case 6:
		HP_M("DELETE", PT_HTTP_DELETE);
		break;
	case 7:
		HP_M("OPTIONS", PT_HTTP_OPTIONS);
		HP_M("CONNECT", PT_HTTP_CONNECT);
		break;
	}
	return PT_HTTP_UNKNOWN;
#undef HP_M
}
