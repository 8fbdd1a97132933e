/*
 * static_send.c: the response for an opened regular file: validators
 * (ETag, Last-Modified), conditional requests (If-None-Match,
 * If-Modified-Since -> 304), byte ranges (Range, If-Range -> 206, with
 * multipart/byteranges for several; 416), HEAD, and the body.
 *
 * The body never sits in memory: on a plain TCP connection (and sendfile
 * on) the chain holds file buffers that pt_conn_send_chain passes to
 * sendfile(2); otherwise (TLS, sendfile off) one buffer of
 * STATIC_CHUNK bytes is refilled with pread(2) each time the previous
 * chunk has been written.
 */
#define _GNU_SOURCE	/* timegm */
#include <time.h>
#include <unistd.h>

#include "static.h"

#define STATIC_CHUNK		(32 * 1024)
/* chunks written in one go before yielding to other connections */
#define STATIC_CHUNKS_PER_RUN	16

struct static_range {
	int64_t		 first;
	int64_t		 last;		/* inclusive */
};

/* request state of the pread(2) path */
struct static_ctx {
	struct pt_request	*r;
	struct pt_buf		*cur;		/* next buffer of the body chain */
	struct pt_buf		*chunk;		/* the one read buffer */
	struct pt_posted	 resume;	/* yield after STATIC_CHUNKS_PER_RUN */
};

static const char *const static_wday[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const static_month[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
	"Aug", "Sep", "Oct", "Nov", "Dec" };

struct pt_str
static_mime_type(struct pt_request *r, struct static_loc *sl, struct pt_str path)
{
	char ext[16];
	const char *p = path.data + path.len, *start = path.data;
	struct static_types *t = sl->types;
	size_t n = 0;
	int lo, hi, mid, c;

	while (p > start && p[-1] != '.' && p[-1] != '/')
		p--;
	if (p > start && p[-1] == '.' && (size_t)(path.data + path.len - p) < sizeof(ext)) {
		for (; p < path.data + path.len; p++)
			ext[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		ext[n] = '\0';
		for (lo = 0, hi = t->n - 1; n > 0 && lo <= hi;) {
			mid = (lo + hi) / 2;
			c = strcmp(t->map[mid].ext, ext);
			if (c == 0)
				return t->map[mid].type;
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid - 1;
		}
	}
	if (r->loc->default_type != NULL)
		return (struct pt_str){ strlen(r->loc->default_type), r->loc->default_type };
	return PT_STR("text/plain");
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" */
static struct pt_str
static_http_date(struct pt_pool *pool, time_t t)
{
	struct tm tm;
	struct pt_str s;

	gmtime_r(&t, &tm);
	s.data = pt_psprintf(pool, "%s, %02d %s %04d %02d:%02d:%02d GMT", static_wday[tm.tm_wday],
	    tm.tm_mday, static_month[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	    tm.tm_sec);
	s.len = strlen(s.data);
	return s;
}

static int
static_month_index(const char *m)
{
	int i;

	for (i = 0; i < 12; i++)
		if (strncmp(m, static_month[i], 3) == 0)
			return i;
	return -1;
}

/* parse an HTTP-date (IMF-fixdate, RFC 850, asctime); -1 if invalid */
static time_t
static_parse_date(struct pt_str v)
{
	char buf[64], mon[4];
	struct tm tm;
	const char *comma;
	int day, year, hh, mm, ss, m, used = 0;

	if (v.len == 0 || v.len >= sizeof(buf))
		return -1;
	memcpy(buf, v.data, v.len);
	buf[v.len] = '\0';
	memset(&tm, 0, sizeof(tm));
	comma = strchr(buf, ',');
	if (comma != NULL) {
		if (sscanf(comma + 1, " %2d %3s %4d %2d:%2d:%2d GMT%n", &day, mon, &year, &hh, &mm,
		    &ss, &used) == 6 && used > 0 && comma[1 + used] == '\0') {
			/* IMF-fixdate */
		} else if (sscanf(comma + 1, " %2d-%3s-%2d %2d:%2d:%2d GMT%n", &day, mon, &year,
		    &hh, &mm, &ss, &used) == 6 && used > 0 && comma[1 + used] == '\0') {
			year += year < 70 ? 2000 : 1900;	/* RFC 850 */
		} else
			return -1;
	} else if (sscanf(buf, "%*3s %3s %2d %2d:%2d:%2d %4d%n", mon, &day, &hh, &mm, &ss,
	    &year, &used) != 6 || used == 0 || buf[used] != '\0') {
		return -1;			/* not asctime either */
	}
	mon[3] = '\0';
	if ((m = static_month_index(mon)) < 0 || day < 1 || day > 31 || hh > 23 || mm > 59 ||
	    ss > 60 || year < 1970)
		return -1;
	tm.tm_year = year - 1900;
	tm.tm_mon = m;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	return timegm(&tm);
}

/* the value of request field <name> (lowercase), or len 0 */
static struct pt_str
static_field(struct pt_request *r, const char *name)
{
	int i;

	for (i = 0; i < r->head.nfields; i++)
		if (pt_str_eq_lc(r->head.fields[i].name, name))
			return r->head.fields[i].value;
	return PT_NULL_STR;
}

/* does an If-None-Match list match <etag> (weak comparison)? */
static int
static_etag_match(struct pt_str list, struct pt_str etag, int weak)
{
	const char *p = list.data, *end = p + list.len, *s;
	const char *tag = etag.data;
	size_t tlen = etag.len;

	if (tlen > 2 && tag[0] == 'W' && tag[1] == '/') {
		tag += 2;
		tlen -= 2;
	}
	while (p < end) {
		int is_weak = 0;

		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (p == end)
			break;
		if (*p == '*')
			return 1;
		if (end - p > 2 && p[0] == 'W' && p[1] == '/') {
			p += 2;
			is_weak = 1;
		}
		if (*p != '"')
			return 0;		/* malformed: no match */
		s = memchr(p + 1, '"', (size_t)(end - p - 1));
		if (s == NULL)
			return 0;
		if ((weak || !is_weak) && (size_t)(s + 1 - p) == tlen && memcmp(p, tag, tlen) == 0)
			return 1;
		p = s + 1;
	}
	return 0;
}

/*
 * Parse "bytes=..." against a file of <size> bytes into <out> (at most
 * <max>). Returns the number of satisfiable ranges, 0 when none is
 * satisfiable (416), -1 when the field is to be ignored (syntax error,
 * not "bytes", more than <max> ranges).
 */
static int
static_parse_ranges(struct pt_str v, int64_t size, struct static_range *out, int max)
{
	const char *p = v.data, *end = p + v.len;
	int n = 0, specs = 0;

	if (v.len < 6 || pt_strncasecmp_lc(p, "bytes=", 6) != 0)
		return -1;
	p += 6;
	for (;;) {
		int64_t first = -1, last = -1, suffix = -1;

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p < end && *p == '-') {
			p++;
			if (p == end || *p < '0' || *p > '9')
				return -1;
			for (suffix = 0; p < end && *p >= '0' && *p <= '9'; p++) {
				if (suffix > (INT64_MAX - 9) / 10)
					return -1;
				suffix = suffix * 10 + (*p - '0');
			}
		} else {
			if (p == end || *p < '0' || *p > '9')
				return -1;
			for (first = 0; p < end && *p >= '0' && *p <= '9'; p++) {
				if (first > (INT64_MAX - 9) / 10)
					return -1;
				first = first * 10 + (*p - '0');
			}
			if (p == end || *p != '-')
				return -1;
			p++;
			if (p < end && *p >= '0' && *p <= '9') {
				for (last = 0; p < end && *p >= '0' && *p <= '9'; p++) {
					if (last > (INT64_MAX - 9) / 10)
						return -1;
					last = last * 10 + (*p - '0');
				}
				if (last < first)
					return -1;
			}
		}
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p < end && *p != ',')
			return -1;
		if (++specs > max)
			return -1;
		if (suffix >= 0) {
			if (suffix > 0 && size > 0) {
				out[n].first = suffix >= size ? 0 : size - suffix;
				out[n].last = size - 1;
				n++;
			}
		} else if (first < size) {
			out[n].first = first;
			out[n].last = last < 0 || last >= size ? size - 1 : last;
			n++;
		}
		if (p == end)
			break;
		p++;				/* ',' */
	}
	return n;
}

static struct pt_buf *
static_file_buf(struct pt_request *r, int fd, int64_t first, int64_t last_excl)
{
	struct pt_buf *b = pt_pcalloc(r->pool, sizeof(*b));

	b->in_file = 1;
	b->file_fd = fd;
	b->file_pos = first;
	b->file_last = last_excl;
	return b;
}

static void static_pread_run(struct static_ctx *sc);

static void
static_pread_drain(struct pt_request *r)
{
	static_pread_run(pt_http_ctx(r, &pt_mod_static));
}

static void
static_pread_resume(struct pt_posted *p)
{
	static_pread_run(p->data);
}

static void
static_pread_cancel(void *data)
{
	struct static_ctx *sc = data;

	pt_post_cancel(&sc->resume);
}

/*
 * The pread(2) path: send the next buffers of sc->cur, reading file
 * buffers through sc->chunk, until the socket is full, the body is all
 * queued (the request is then finalized), or STATIC_CHUNKS_PER_RUN
 * chunks went out (then it yields through a posted event).
 */
static void
static_pread_run(struct static_ctx *sc)
{
	struct pt_request *r = sc->r;
	int runs = 0, rc;

	for (;;) {
		struct pt_buf *b = sc->cur, *out;

		if (b == NULL) {
			pt_http_finalize(r, PT_DONE);
			return;
		}
		if (!b->in_file) {
			sc->cur = b->next;
			out = b;
		} else {
			size_t want = (size_t)PT_MIN(b->file_last - b->file_pos, STATIC_CHUNK);
			ssize_t got;

			do
				got = pread(b->file_fd, sc->chunk->start, want, (off_t)b->file_pos);
			while (got == -1 && errno == EINTR);
			if (got <= 0) {
				pt_log(PT_LOG_ERR, got == 0 ? 0 : errno, "pread() of a file being sent "
				    "to %s failed%s", r->c->peer.text, got == 0 ? ": file truncated" : "");
				pt_http_finalize(r, PT_ERROR);
				return;
			}
			b->file_pos += got;
			if (b->file_pos == b->file_last)
				sc->cur = b->next;
			out = sc->chunk;
			out->pos = out->start;
			out->last = out->start + got;
		}
		out->next = NULL;
		out->last_buf = sc->cur == NULL;
		rc = pt_http_send(r, out);
		if (rc == PT_ERROR) {
			r->close_reason = PT_CLOSE_CLIENT_ERROR;
			pt_http_finalize(r, PT_ERROR);
			return;
		}
		if (sc->cur == NULL) {
			pt_http_finalize(r, PT_DONE);
			return;
		}
		if (rc == PT_AGAIN) {
			r->on_drain = static_pread_drain;
			return;
		}
		if (++runs >= STATIC_CHUNKS_PER_RUN) {
			pt_post(&sc->resume);
			return;
		}
	}
}

/* send the body chain <chain> of <r> (head already queued) */
static int
static_send_body(struct pt_request *r, struct static_loc *sl, struct pt_buf *chain)
{
	struct static_ctx *sc;
	struct pt_buf *b;
	int64_t biggest = 0;

	if (sl->sendfile && r->c->ssl == NULL) {
		for (b = chain; b->next != NULL; b = b->next)
			;
		b->last_buf = 1;
		return pt_http_send(r, chain) == PT_ERROR ? PT_ERROR : PT_OK;
	}
	for (b = chain; b != NULL; b = b->next)
		if (b->in_file)
			biggest = PT_MAX(biggest, b->file_last - b->file_pos);
	sc = pt_pcalloc(r->pool, sizeof(*sc));
	sc->r = r;
	sc->cur = chain;
	sc->chunk = pt_buf_create(r->pool, (size_t)PT_MIN(biggest > 0 ? biggest : 1, STATIC_CHUNK));
	sc->resume.handler = static_pread_resume;
	sc->resume.data = sc;
	pt_pool_cleanup_add(r->pool, static_pread_cancel, sc);
	pt_http_set_ctx(r, &pt_mod_static, sc);
	static_pread_run(sc);
	return PT_DONE;
}

int
static_send_file(struct pt_request *r, struct static_loc *sl, struct static_file *f)
{
	struct static_range ranges_stack[8], *ranges = ranges_stack;
	struct pt_str etag = PT_NULL_STR, lm, inm, ims, range, ifr, ctype;
	int64_t size = (int64_t)f->st.st_size;
	struct pt_buf *chain = NULL, **tail = &chain;
	int nranges = -1, i;

	lm = static_http_date(r->pool, f->st.st_mtime);
	if (sl->etag) {
		etag.data = pt_psprintf(r->pool, "\"%llx-%llx\"", (unsigned long long)f->st.st_mtime,
		    (unsigned long long)size);
		etag.len = strlen(etag.data);
	}
	ctype = static_mime_type(r, sl, f->path);

	/* RFC 9110 13.2.2: If-None-Match, else If-Modified-Since */
	inm = static_field(r, "if-none-match");
	ims = static_field(r, "if-modified-since");
	if (r->err_status == 0 && (inm.len > 0 ? (etag.len > 0 &&
	    static_etag_match(inm, etag, 1)) : (ims.len > 0 &&
	    static_parse_date(ims) >= f->st.st_mtime))) {
		r->status = 304;
		r->out_length = -1;
		pt_http_out_add(r, PT_STR("Last-Modified"), lm);
		if (etag.len > 0)
			pt_http_out_add(r, PT_STR("ETag"), etag);
		if (pt_http_send_header(r) != PT_OK)
			return PT_ERROR;
		return pt_http_send(r, NULL) == PT_ERROR ? PT_ERROR : PT_OK;
	}

	range = static_field(r, "range");
	if (range.len > 0 && r->method_id == PT_HTTP_GET && sl->max_ranges > 0 &&
	    r->err_status == 0) {
		ifr = static_field(r, "if-range");
		/* If-Range: a strong ETag or the exact Last-Modified, else the whole file */
		if (ifr.len == 0 || (ifr.data[0] == '"' ? etag.len > 0 &&
		    static_etag_match(ifr, etag, 0) : ifr.len == lm.len &&
		    memcmp(ifr.data, lm.data, lm.len) == 0)) {
			if (sl->max_ranges > (long)PT_NELEM(ranges_stack))
				ranges = pt_palloc(r->pool, sizeof(*ranges) * (size_t)sl->max_ranges);
			nranges = static_parse_ranges(range, size, ranges, (int)sl->max_ranges);
		}
	}
	if (nranges == 0) {
		struct pt_str cr;

		cr.data = pt_psprintf(r->pool, "bytes */%lld", (long long)size);
		cr.len = strlen(cr.data);
		pt_http_out_add(r, PT_STR("Content-Range"), cr);
		return 416;
	}

	pt_http_out_add(r, PT_STR("Last-Modified"), lm);
	if (etag.len > 0)
		pt_http_out_add(r, PT_STR("ETag"), etag);
	if (sl->max_ranges > 0)
		pt_http_out_add(r, PT_STR("Accept-Ranges"), PT_STR("bytes"));
	r->content_type = ctype;

	if (nranges < 0) {
		if (r->err_status == 0)
			r->status = 200;
		r->out_length = size;
		if (size > 0)
			*tail = static_file_buf(r, f->fd, 0, size);
	} else if (nranges == 1) {
		struct pt_str cr;

		r->status = 206;
		cr.data = pt_psprintf(r->pool, "bytes %lld-%lld/%lld", (long long)ranges[0].first,
		    (long long)ranges[0].last, (long long)size);
		cr.len = strlen(cr.data);
		pt_http_out_add(r, PT_STR("Content-Range"), cr);
		r->out_length = ranges[0].last - ranges[0].first + 1;
		*tail = static_file_buf(r, f->fd, ranges[0].first, ranges[0].last + 1);
	} else {
		static uint64_t boundary;
		char bnd[24];
		int64_t total = 0;

		if (boundary == 0)
			boundary = ((uint64_t)pt_current_sec << 20) ^ (uint64_t)getpid();
		snprintf(bnd, sizeof(bnd), "%020llu", (unsigned long long)++boundary % 10000000000000000000ULL);
		r->status = 206;
		r->content_type.data = pt_psprintf(r->pool, "multipart/byteranges; boundary=%s", bnd);
		r->content_type.len = strlen(r->content_type.data);
		for (i = 0; i < nranges; i++) {
			char *h = pt_psprintf(r->pool, "\r\n--%s\r\nContent-Type: %.*s\r\n"
			    "Content-Range: bytes %lld-%lld/%lld\r\n\r\n", bnd, (int)ctype.len,
			    ctype.data, (long long)ranges[i].first, (long long)ranges[i].last,
			    (long long)size);
			struct pt_buf *hb = pt_buf_wrap(r->pool, h, strlen(h));

			total += (int64_t)pt_buf_size(hb) + ranges[i].last - ranges[i].first + 1;
			*tail = hb;
			tail = &hb->next;
			*tail = static_file_buf(r, f->fd, ranges[i].first, ranges[i].last + 1);
			tail = &(*tail)->next;
		}
		{
			char *e = pt_psprintf(r->pool, "\r\n--%s--\r\n", bnd);

			*tail = pt_buf_wrap(r->pool, e, strlen(e));
			total += (int64_t)strlen(e);
		}
		r->out_length = total;
	}
	if (pt_http_send_header(r) != PT_OK)
		return PT_ERROR;
	if (chain == NULL || r->header_only)
		return pt_http_send(r, chain) == PT_ERROR ? PT_ERROR : PT_OK;
	return static_send_body(r, sl, chain);
}
