/*
 * t/unit/parse.c: tests of worker/http_parse.c, printed as TAP.
 *
 * Mostly tables of raw input and the expected return code. Every input
 * is copied into a heap buffer of exactly its length first, so that
 * AddressSanitizer reports any read past the end. The incremental parsers
 * (head end, chunked) are fed each vector whole and one byte at a time,
 * and both runs must give the same answer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "log.h"
#include "pool.h"
#include "http_parse.h"

static int		 test_n;	/* assertions run */
static int		 test_failed;	/* of which failed */
static struct pt_pool	*test_pool;	/* reset between cases */

static const struct pt_http_limits test_lim = {
	.line_max = 8192,
	.head_max = 32768,
	.fields_max = 100,
};

/*
 * core.c logs assertion failures through pt_log(); this program does not
 * link log.c. Weak, so that linking log.c later simply wins.
 */
__attribute__((weak)) void
pt_log(enum pt_log_level level, int err, const char *fmt, ...)
{
	va_list ap;

	(void)level;
	va_start(ap, fmt);
	fprintf(stderr, "# log: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (%d)\n", err);
	va_end(ap);
}

__attribute__((format(printf, 2, 3))) static int
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	test_n++;
	if (!cond)
		test_failed++;
	printf("%sok %d - ", cond ? "" : "not ", test_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return cond;
}

static int
is_int(long got, long want, const char *desc)
{
	if (!ok(got == want, "%s", desc))
		printf("#   got %ld, expected %ld\n", got, want);
	return got == want;
}

static int
is_str(struct pt_str got, const char *want, const char *desc)
{
	int eq;

	if (want == NULL)
		eq = got.len == 0 && got.data == NULL;
	else
		eq = got.data != NULL && got.len == strlen(want) &&
		    memcmp(got.data, want, got.len) == 0;
	if (!ok(eq, "%s", desc))
		printf("#   got \"%.*s\" (%zu), expected \"%s\"\n",
		    (int)got.len, got.data != NULL ? got.data : "(null)", got.len,
		    want != NULL ? want : "(null)");
	return eq;
}

/* a heap copy of exactly <len> bytes, so ASan catches over-reads */
static char *
dup_exact(const char *s, size_t len)
{
	char *p = malloc(len > 0 ? len : 1);

	if (p == NULL)
		abort();
	memcpy(p, s, len);
	return p;
}

/*---- requests -----------------------------------------------------------*/

struct req_case {
	const char	*desc;
	const char	*raw;
	size_t		 len;
	int		 rc;
	int		 fields_max;	/* 0: test_lim's */
};

#define RQ(d, raw, rc)		{ d, raw, sizeof(raw) - 1, rc, 0 }
#define RQ_LIM(d, raw, rc, n)	{ d, raw, sizeof(raw) - 1, rc, n }
#define H11	" HTTP/1.1\r\nHost: a\r\n"

static const struct req_case req_cases[] = {
	/* valid */
	RQ("simple GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", PT_OK),
	RQ("HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", PT_OK),
	RQ("bare LF line ends", "GET / HTTP/1.1\nHost: a\n\n", PT_OK),
	RQ("mixed line ends", "GET / HTTP/1.1\r\nHost: a\n\r\n", PT_OK),
	RQ("one leading CRLF skipped", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", PT_OK),
	RQ("several leading empty lines", "\r\n\n\r\nGET /" H11 "\r\n", PT_OK),
	RQ("unknown method token", "FOO /" H11 "\r\n", PT_OK),
	RQ("method with tchars", "M-SEARCH /" H11 "\r\n", PT_OK),
	RQ("lowercase method is a token", "get /" H11 "\r\n", PT_OK),
	RQ("absolute-form with Host", "GET http://a/x" H11 "\r\n", PT_OK),
	RQ("OPTIONS *", "OPTIONS *" H11 "\r\n", PT_OK),
	RQ("value with obs-text", "GET /" H11 "X: caf\xc3\xa9\r\n\r\n", PT_OK),
	RQ("value with inner HT and SP", "GET /" H11 "X: a \t b\r\n\r\n", PT_OK),
	RQ("empty value", "GET /" H11 "X:\r\n\r\n", PT_OK),
	RQ("value of only OWS", "GET /" H11 "X: \t \r\n\r\n", PT_OK),
	RQ("Content-Length", "POST /" H11 "Content-Length: 5\r\n\r\n", PT_OK),
	RQ("Content-Length 0", "POST /" H11 "Content-Length: 0\r\n\r\n", PT_OK),
	RQ("Content-Length list of equal values",
	    "POST /" H11 "Content-Length: 5, 5\r\n\r\n", PT_OK),
	RQ("two equal Content-Length fields",
	    "POST /" H11 "Content-Length: 5\r\ncontent-length: 5\r\n\r\n", PT_OK),
	RQ("Content-Length leading zeros equal numerically",
	    "POST /" H11 "Content-Length: 007\r\nContent-Length: 7\r\n\r\n", PT_OK),
	RQ("Content-Length INT64_MAX",
	    "POST /" H11 "Content-Length: 9223372036854775807\r\n\r\n", PT_OK),
	RQ("TE chunked", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n", PT_OK),
	RQ("TE Chunked, any case", "POST /" H11 "Transfer-Encoding: ChUnKeD \r\n\r\n", PT_OK),
	RQ("Connection tokens", "GET /" H11 "Connection: close, Upgrade\r\n\r\n", PT_OK),
	RQ("Expect 100-continue", "PUT /" H11 "Expect: 100-Continue\r\n\r\n", PT_OK),
	RQ_LIM("fields exactly at fields_max",
	    "GET /" H11 "A: 1\r\nB: 2\r\n\r\n", PT_OK, 3),

	/* request-line */
	RQ("method with bad char", "GE(T /" H11 "\r\n", -400),
	RQ("empty method", " /" H11 "\r\n", -400),
	RQ("two spaces after method", "GET  /" H11 "\r\n", -400),
	RQ("two spaces before version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", -400),
	RQ("HT as separator", "GET\t/" H11 "\r\n", -400),
	RQ("CTL in target", "GET /a\x01" H11 "\r\n", -400),
	RQ("DEL in target", "GET /a\x7f" H11 "\r\n", -400),
	RQ("obs-text in target", "GET /caf\xc3\xa9" H11 "\r\n", -400),
	RQ("space inside target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", -400),
	RQ("no space before version", "GET /xHTTP/1.1\r\nHost: a\r\n\r\n", -400),
	RQ("no target", "GET HTTP/1.1\r\nHost: a\r\n\r\n", -400),
	RQ("HTTP/0.9 request line", "GET /\r\n\r\n", -400),
	RQ("trailing space after version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", -400),
	RQ("lowercase http", "GET / http/1.1\r\nHost: a\r\n\r\n", -400),
	RQ("version without minor", "GET / HTTP/1\r\nHost: a\r\n\r\n", -400),
	RQ("version 1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", -400),
	RQ("version 11.1", "GET / HTTP/11.1\r\nHost: a\r\n\r\n", -400),
	RQ("HTTP/1.2 is 505", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", -505),
	RQ("HTTP/2.0 is 505", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", -505),
	RQ("HTTP/0.9 version is 505", "GET / HTTP/0.9\r\n\r\n", -505),
	RQ("asterisk-form with GET", "GET *" H11 "\r\n", -400),
	RQ("bare CR in request line", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", -400),
	RQ("NUL in request line", "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", -400),

	/* field syntax */
	RQ("obs-fold", "GET /" H11 "X: a\r\n b\r\n\r\n", -400),
	RQ("obs-fold with HT", "GET /" H11 "X: a\r\n\tb\r\n\r\n", -400),
	RQ("whitespace before first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", -400),
	RQ("space before colon", "GET /" H11 "X : a\r\n\r\n", -400),
	RQ("HT before colon", "GET /" H11 "X\t: a\r\n\r\n", -400),
	RQ("empty name", "GET /" H11 ": a\r\n\r\n", -400),
	RQ("no colon", "GET /" H11 "X\r\n\r\n", -400),
	RQ("bad char in name", "GET /" H11 "X@Y: a\r\n\r\n", -400),
	RQ("NUL in value", "GET /" H11 "X: a\0b\r\n\r\n", -400),
	RQ("NUL in name", "GET /" H11 "X\0: a\r\n\r\n", -400),
	RQ("bare CR in value", "GET /" H11 "X: a\rb\r\n\r\n", -400),
	RQ("bare CR ending a value", "GET /" H11 "X: a\r\r\n\r\n", -400),
	RQ("CTL in value", "GET /" H11 "X: a\x01\r\n\r\n", -400),
	RQ("DEL in value", "GET /" H11 "X: a\x7f\r\n\r\n", -400),
	RQ("ESC in value", "GET /" H11 "X: \x1b[0m\r\n\r\n", -400),
	RQ("no empty line", "GET /" H11, -400),
	RQ("bare CR as empty line", "GET /" H11 "\r", -400),
	RQ_LIM("too many fields", "GET /" H11 "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", -431, 3),

	/* Content-Length */
	RQ("CL negative", "POST /" H11 "Content-Length: -1\r\n\r\n", -400),
	RQ("CL with plus", "POST /" H11 "Content-Length: +5\r\n\r\n", -400),
	RQ("CL space inside", "POST /" H11 "Content-Length: 1 2\r\n\r\n", -400),
	RQ("CL empty", "POST /" H11 "Content-Length:\r\n\r\n", -400),
	RQ("CL letters", "POST /" H11 "Content-Length: abc\r\n\r\n", -400),
	RQ("CL hex", "POST /" H11 "Content-Length: 0x10\r\n\r\n", -400),
	RQ("CL list of different values", "POST /" H11 "Content-Length: 5, 6\r\n\r\n", -400),
	RQ("CL values separated by space", "POST /" H11 "Content-Length: 5 5\r\n\r\n", -400),
	RQ("CL list with leading empty element",
	    "POST /" H11 "Content-Length: ,0\r\n\r\n", -400),
	RQ("CL list with empty element", "POST /" H11 "Content-Length: 5,\r\n\r\n", -400),
	RQ("CL fields differ",
	    "POST /" H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", -400),
	RQ("CL over INT64_MAX",
	    "POST /" H11 "Content-Length: 9223372036854775808\r\n\r\n", -400),
	RQ("CL far over 64 bits",
	    "POST /" H11 "Content-Length: 99999999999999999999999\r\n\r\n", -400),
	RQ("CL with TE", "POST /" H11
	    "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", -400),
	RQ("TE with CL", "POST /" H11
	    "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", -400),

	/* Transfer-Encoding */
	RQ("TE in HTTP/1.0",
	    "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -400),
	RQ("TE gzip alone", "POST /" H11 "Transfer-Encoding: gzip\r\n\r\n", -400),
	RQ("TE chunked not last", "POST /" H11 "Transfer-Encoding: chunked, gzip\r\n\r\n", -400),
	RQ("TE gzip, chunked is 501", "POST /" H11 "Transfer-Encoding: gzip, chunked\r\n\r\n", -501),
	RQ("TE over two fields is 501", "POST /" H11
	    "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", -501),
	RQ("TE gzip with params, chunked is 501",
	    "POST /" H11 "Transfer-Encoding: gzip;level=1, chunked\r\n\r\n", -501),
	RQ("TE chunked twice", "POST /" H11 "Transfer-Encoding: chunked, chunked\r\n\r\n", -400),
	RQ("TE chunked in two fields", "POST /" H11
	    "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", -400),
	RQ("TE chunked with parameter",
	    "POST /" H11 "Transfer-Encoding: chunked;a=b\r\n\r\n", -400),
	RQ("TE empty", "POST /" H11 "Transfer-Encoding:\r\n\r\n", -400),
	RQ("TE identity", "POST /" H11 "Transfer-Encoding: identity\r\n\r\n", -400),
	RQ("TE xchunked", "POST /" H11 "Transfer-Encoding: xchunked\r\n\r\n", -400),
	RQ("TE not a token", "POST /" H11 "Transfer-Encoding: \"chunked\"\r\n\r\n", -400),
	RQ("TE garbage before chunked",
	    "POST /" H11 "Transfer-Encoding: @, chunked\r\n\r\n", -400),

	/* Host, Connection */
	RQ("two Host fields", "GET /" H11 "Host: b\r\n\r\n", -400),
	RQ("HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", -400),
	RQ("absolute-form without Host", "GET http://a/ HTTP/1.1\r\n\r\n", -400),
	RQ("two Host fields in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", -400),
	RQ("Connection element not a token",
	    "GET /" H11 "Connection: close, a b\r\n\r\n", -400),
};

static void
test_requests(void)
{
	const struct req_case	*t;
	struct pt_http_limits	 lim;
	struct pt_http_head	 h;
	size_t			 i;
	char			*buf;
	int			 rc;

	for (i = 0; i < PT_NELEM(req_cases); i++) {
		t = &req_cases[i];
		lim = test_lim;
		if (t->fields_max > 0)
			lim.fields_max = t->fields_max;
		buf = dup_exact(t->raw, t->len);
		rc = pt_http_parse_request(buf, t->len, &lim, test_pool, &h);
		is_int(rc, t->rc, t->desc);
		if (rc == PT_OK)
			is_int((long)h.head_len, (long)t->len,
			    "head_len covers the whole head");
		free(buf);
		pt_pool_reset(test_pool);
	}
}

/* one field: name, value, id and hop bit */
static void
check_field(const struct pt_http_head *h, int i, const char *name,
    const char *value, enum pt_http_field_id id, int hop)
{
	char d[128];

	if (!ok(i < h->nfields, "field %d exists", i))
		return;
	snprintf(d, sizeof(d), "field %d name %s", i, name);
	is_str(h->fields[i].name, name, d);
	snprintf(d, sizeof(d), "field %d value of %s", i, name);
	is_str(h->fields[i].value, value, d);
	snprintf(d, sizeof(d), "field %d id of %s", i, name);
	is_int(h->fields[i].id, id, d);
	snprintf(d, sizeof(d), "field %d hop bit of %s", i, name);
	is_int(h->fields[i].hop, hop, d);
}

static void
test_request_details(void)
{
	static const char req[] =
	    "POST /up?x=1 HTTP/1.1\r\n"
	    "host:  Example.com \r\n"
	    "Connection: keep-alive, X-Secret, close\r\n"
	    "CONTENT-LENGTH: 3\r\n"
	    "X-Secret: s\r\n"
	    "Keep-Alive: timeout=5\r\n"
	    "Cookie: a=b\r\n"
	    "Proxy-Authorization: Basic x\r\n"
	    "Expect: 100-continue\r\n"
	    "\r\n"
	    "abcGET / HTTP/1.1\r\n";	/* body and a pipelined request */
	static const char chunked[] =
	    "PUT /c HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n"
	    "Connection: upgrade, Host, Content-Length, x-a\r\nUpgrade: x\r\n\r\n";
	struct pt_http_head	 h;
	size_t			 scan = 0;
	char			*buf;
	int			 rc;

	buf = dup_exact(req, sizeof(req) - 1);
	rc = pt_http_parse_request(buf, sizeof(req) - 1, &test_lim, test_pool, &h);
	is_int(rc, PT_OK, "detailed request parses");
	is_str(h.method, "POST", "method");
	is_int(h.method_id, PT_HTTP_POST, "method id");
	is_str(h.target, "/up?x=1", "target as received");
	is_int(h.version, 11, "version 11");
	is_int(h.nfields, 8, "eight fields");
	is_int((long)h.head_len, (long)(sizeof(req) - 1 - 19),
	    "head_len stops at the empty line");
	is_int(pt_http_find_head_end(buf, sizeof(req) - 1, &scan, &test_lim, 1),
	    (long)h.head_len, "find_head_end agrees with head_len");
	is_int(h.content_length, 3, "content_length 3");
	is_int(h.flags, PT_HTTP_HAS_CL | PT_HTTP_CONN_KEEPALIVE |
	    PT_HTTP_CONN_CLOSE | PT_HTTP_EXPECT_CONTINUE,
	    "flags: CL, keep-alive, close, expect");
	check_field(&h, 0, "host", "Example.com", PT_HF_HOST, 0);
	check_field(&h, 1, "Connection", "keep-alive, X-Secret, close",
	    PT_HF_CONNECTION, 1);
	check_field(&h, 2, "CONTENT-LENGTH", "3", PT_HF_CONTENT_LENGTH, 0);
	check_field(&h, 3, "X-Secret", "s", PT_HF_OTHER, 1);
	check_field(&h, 4, "Keep-Alive", "timeout=5", PT_HF_KEEP_ALIVE, 1);
	check_field(&h, 5, "Cookie", "a=b", PT_HF_COOKIE, 0);
	check_field(&h, 6, "Proxy-Authorization", "Basic x",
	    PT_HF_PROXY_AUTHORIZATION, 0);
	check_field(&h, 7, "Expect", "100-continue", PT_HF_EXPECT, 0);
	is_int(h.idx[PT_HF_HOST], 0, "idx Host");
	is_int(h.idx[PT_HF_CONTENT_LENGTH], 2, "idx Content-Length");
	is_int(h.idx[PT_HF_OTHER], 3, "idx of first other field");
	is_int(h.idx[PT_HF_TRANSFER_ENCODING], -1, "idx of absent TE is -1");
	is_int(h.idx[PT_HF_USER_AGENT], -1, "idx of absent User-Agent is -1");
	free(buf);
	pt_pool_reset(test_pool);

	buf = dup_exact(chunked, sizeof(chunked) - 1);
	rc = pt_http_parse_request(buf, sizeof(chunked) - 1, &test_lim,
	    test_pool, &h);
	is_int(rc, PT_OK, "chunked request parses");
	is_int(h.flags, PT_HTTP_CHUNKED | PT_HTTP_CONN_UPGRADE,
	    "flags: chunked, upgrade");
	is_int(h.content_length, -1, "content_length -1 when absent");
	is_int(h.fields[0].hop, 0, "Connection cannot make Host hop-by-hop");
	is_int(h.fields[1].hop, 1, "Connection marks an earlier field, any case");
	is_int(h.fields[2].hop, 1, "Transfer-Encoding is hop-by-hop");
	is_int(h.fields[4].hop, 1, "Upgrade is hop-by-hop");
	free(buf);
	pt_pool_reset(test_pool);

	buf = dup_exact("GET / HTTP/1.0\r\n\r\n", 18);
	rc = pt_http_parse_request(buf, 18, &test_lim, test_pool, &h);
	is_int(rc, PT_OK, "request without fields");
	is_int(h.nfields, 0, "no fields");
	is_int(h.version, 10, "version 10");
	is_int(h.idx[PT_HF_HOST], -1, "idx of Host -1");
	free(buf);
	pt_pool_reset(test_pool);
}

/* heads with more fields than fit on the parser's stack */
static void
test_many_fields(void)
{
	struct pt_http_limits	 lim = test_lim;
	struct pt_http_head	 h;
	char			*buf, name[16];
	size_t			 len;
	int			 i, nf, ok_all;

	for (nf = 30; nf <= 70; nf += 10) {
		buf = malloc(64 + (size_t)nf * 16);
		if (buf == NULL)
			abort();
		len = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: h\r\n");
		for (i = 1; i < nf; i++)
			len += (size_t)sprintf(buf + len, "X-%d: v%d\r\n", i, i);
		len += (size_t)sprintf(buf + len, "\r\n");

		lim.fields_max = nf;
		is_int(pt_http_parse_request(buf, len, &lim, test_pool, &h), PT_OK,
		    "fields at the limit parse");
		ok_all = h.nfields == nf && h.head_len == len;
		for (i = 1; ok_all && i < nf; i++) {
			snprintf(name, sizeof(name), "X-%d", i);
			ok_all = h.fields[i].name.len == strlen(name) &&
			    memcmp(h.fields[i].name.data, name, strlen(name)) == 0;
		}
		ok(ok_all, "%d fields all kept in order", nf);
		lim.fields_max = nf - 1;
		is_int(pt_http_parse_request(buf, len, &lim, test_pool, &h), -431,
		    "one field over the limit is 431");
		free(buf);
		pt_pool_reset(test_pool);
	}
}

/*
 * A bad byte at every offset of a long value or target: long runs are
 * checked eight bytes at a time, so each lane of the word must be seen.
 */
static void
test_bad_byte_offsets(void)
{
	static const char	 vbad[] = { 0x00, 0x01, 0x0b, 0x0c, 0x1f, 0x7f, '\r' };
	static const char	 tbad[] = { 0x00, 0x01, ' ', 0x7f, (char)0x80, (char)0xff, '\t' };
	struct pt_http_head	 h;
	struct pt_str		 tg, uri, args, auth;
	char			 req[128], *buf;
	size_t			 k, len;
	int			 off, all, rc, want;

	for (k = 0; k < sizeof(vbad) + 1; k++) {
		all = 1;
		for (off = 0; off < 24; off++) {
			len = (size_t)sprintf(req, "GET / HTTP/1.1\r\nHost: a\r\n"
			    "X: %s\r\n\r\n", "abcdefghijklmnopqrstuvwx");
			/* the last round puts a HT, which is allowed */
			req[28 + off] = k < sizeof(vbad) ? vbad[k] : '\t';
			want = k < sizeof(vbad) ? -400 : PT_OK;
			buf = dup_exact(req, len);
			rc = pt_http_parse_request(buf, len, &test_lim, test_pool, &h);
			if (rc != want) {
				printf("# offset %d: got %d\n", off, rc);
				all = 0;
			}
			free(buf);
			pt_pool_reset(test_pool);
		}
		ok(all, "value byte 0x%02x at every offset of a long value",
		    k < sizeof(vbad) ? (uint8_t)vbad[k] : '\t');
	}
	for (k = 0; k < sizeof(tbad); k++) {
		all = 1;
		for (off = 1; off < 25; off++) {
			len = (size_t)sprintf(req, "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n",
			    "abcdefghijklmnopqrstuvwx");
			req[4 + off] = tbad[k];
			buf = dup_exact(req, len);
			rc = pt_http_parse_request(buf, len, &test_lim, test_pool, &h);
			if (rc != -400) {
				printf("# request, offset %d: got %d\n", off, rc);
				all = 0;
			}
			tg.data = buf + 4;
			tg.len = 25;
			rc = pt_http_parse_target(test_pool, tg, &uri, &args, &auth);
			if (rc != -400) {
				printf("# target, offset %d: got %d\n", off, rc);
				all = 0;
			}
			free(buf);
			pt_pool_reset(test_pool);
		}
		ok(all, "target byte 0x%02x at every offset of a long target",
		    (uint8_t)tbad[k]);
	}
	/* the same for a reason phrase */
	all = 1;
	for (off = 0; off < 24; off++) {
		len = (size_t)sprintf(req, "HTTP/1.1 200 %s\r\n\r\n",
		    "abcdefghijklmnopqrstuvwx");
		req[13 + off] = 0x01;
		buf = dup_exact(req, len);
		if (pt_http_parse_response(buf, len, &test_lim, test_pool, &h) !=
		    PT_ERROR)
			all = 0;
		free(buf);
		pt_pool_reset(test_pool);
	}
	ok(all, "CTL at every offset of a long reason phrase");
}

static void
test_method_id(void)
{
	static const struct {
		const char		*m;
		enum pt_http_method	 id;
	} t[] = {
		{ "GET", PT_HTTP_GET }, { "HEAD", PT_HTTP_HEAD },
		{ "POST", PT_HTTP_POST }, { "PUT", PT_HTTP_PUT },
		{ "DELETE", PT_HTTP_DELETE }, { "OPTIONS", PT_HTTP_OPTIONS },
		{ "PATCH", PT_HTTP_PATCH }, { "TRACE", PT_HTTP_TRACE },
		{ "CONNECT", PT_HTTP_CONNECT }, { "get", PT_HTTP_UNKNOWN },
		{ "GETS", PT_HTTP_UNKNOWN }, { "PURGE", PT_HTTP_UNKNOWN },
	};
	size_t i;

	for (i = 0; i < PT_NELEM(t); i++) {
		struct pt_str s = { strlen(t[i].m), t[i].m };

		ok(pt_http_method_id(s) == t[i].id, "method id of %s", t[i].m);
	}
}

/*---- responses ----------------------------------------------------------*/

struct resp_case {
	const char	*desc;
	const char	*raw;
	size_t		 len;
	int		 rc;
	int		 status;	/* checked when rc is PT_OK */
	const char	*reason;
	unsigned	 flags;
};

#define RS(d, raw, rc, st, re, fl)	{ d, raw, sizeof(raw) - 1, rc, st, re, fl }
#define RS_ERR(d, raw)			{ d, raw, sizeof(raw) - 1, PT_ERROR, 0, NULL, 0 }

static const struct resp_case resp_cases[] = {
	RS("200 OK", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", PT_OK, 200, "OK",
	    PT_HTTP_HAS_CL),
	RS("100 Continue", "HTTP/1.1 100 Continue\r\n\r\n", PT_OK, 100, "Continue", 0),
	RS("204 No Content", "HTTP/1.1 204 No Content\r\n\r\n", PT_OK, 204,
	    "No Content", 0),
	RS("HTTP/1.0 404", "HTTP/1.0 404 Not Found\r\n\r\n", PT_OK, 404, "Not Found", 0),
	RS("no reason, no SP", "HTTP/1.1 200\r\n\r\n", PT_OK, 200, NULL, 0),
	RS("empty reason after SP", "HTTP/1.1 200 \r\n\r\n", PT_OK, 200, "", 0),
	RS("bare LF", "HTTP/1.1 301 Moved\nLocation: /x\n\n", PT_OK, 301, "Moved", 0),
	RS("reason with obs-text and HT", "HTTP/1.1 200 \xc3\xa9\tok\r\n\r\n", PT_OK,
	    200, "\xc3\xa9\tok", 0),
	RS("status 999", "HTTP/1.1 999 X\r\n\r\n", PT_OK, 999, "X", 0),
	RS("TE chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	    PT_OK, 200, "OK", PT_HTTP_CHUNKED),
	RS("TE gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	    PT_OK, 200, "OK", PT_HTTP_CHUNKED),
	RS("TE gzip is close-delimited",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", PT_OK, 200, "OK", 0),
	RS("TE chunked, gzip is close-delimited",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
	    PT_OK, 200, "OK", 0),
	RS("Connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
	    PT_OK, 200, "OK", PT_HTTP_CONN_CLOSE),
	RS("equal CL list", "HTTP/1.1 200 OK\r\nContent-Length: 4, 4\r\n\r\n",
	    PT_OK, 200, "OK", PT_HTTP_HAS_CL),
	RS_ERR("status 99", "HTTP/1.1 99 X\r\n\r\n"),
	RS_ERR("status 099", "HTTP/1.1 099 X\r\n\r\n"),
	RS_ERR("status 1000", "HTTP/1.1 1000 X\r\n\r\n"),
	RS_ERR("status with letter", "HTTP/1.1 20a X\r\n\r\n"),
	RS_ERR("HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n"),
	RS_ERR("HTTP/1.2", "HTTP/1.2 200 OK\r\n\r\n"),
	RS_ERR("lowercase http", "http/1.1 200 OK\r\n\r\n"),
	RS_ERR("two spaces before status", "HTTP/1.1  200 OK\r\n\r\n"),
	RS_ERR("HT after status", "HTTP/1.1 200\tOK\r\n\r\n"),
	RS_ERR("leading empty line", "\r\nHTTP/1.1 200 OK\r\n\r\n"),
	RS_ERR("CTL in reason", "HTTP/1.1 200 O\x01K\r\n\r\n"),
	RS_ERR("bare CR in reason", "HTTP/1.1 200 O\rK\r\n\r\n"),
	RS_ERR("CL with TE",
	    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
	RS_ERR("TE in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
	RS_ERR("TE chunked twice",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
	RS_ERR("TE chunked with parameter",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;a=b\r\n\r\n"),
	RS_ERR("TE empty", "HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\n\r\n"),
	RS_ERR("obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"),
	RS_ERR("bare CR in value", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"),
	RS_ERR("NUL in value", "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n"),
	RS_ERR("space before colon", "HTTP/1.1 200 OK\r\nX : a\r\n\r\n"),
	RS_ERR("negative CL", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
	RS_ERR("invalid CL", "HTTP/1.1 200 OK\r\nContent-Length: 1a\r\n\r\n"),
	RS_ERR("conflicting CL",
	    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
	RS_ERR("no empty line", "HTTP/1.1 200 OK\r\n"),
	RS_ERR("truncated status line", "HTTP/1.1 20\r\n\r\n"),
};

static void
test_responses(void)
{
	const struct resp_case	*t;
	struct pt_http_head	 h;
	char			 d[160];
	size_t			 i;
	char			*buf;
	int			 rc;

	for (i = 0; i < PT_NELEM(resp_cases); i++) {
		t = &resp_cases[i];
		buf = dup_exact(t->raw, t->len);
		rc = pt_http_parse_response(buf, t->len, &test_lim, test_pool, &h);
		snprintf(d, sizeof(d), "response: %s", t->desc);
		is_int(rc, t->rc, d);
		if (rc == PT_OK && t->rc == PT_OK) {
			snprintf(d, sizeof(d), "response: %s: status", t->desc);
			is_int(h.status, t->status, d);
			snprintf(d, sizeof(d), "response: %s: reason", t->desc);
			is_str(h.reason, t->reason, d);
			snprintf(d, sizeof(d), "response: %s: flags", t->desc);
			is_int(h.flags, t->flags, d);
		}
		free(buf);
		pt_pool_reset(test_pool);
	}

	/* the field limit applies to responses too */
	{
		struct pt_http_limits lim = test_lim;
		static const char r[] = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n";

		lim.fields_max = 1;
		buf = dup_exact(r, sizeof(r) - 1);
		is_int(pt_http_parse_response(buf, sizeof(r) - 1, &lim, test_pool, &h),
		    PT_ERROR, "response: too many fields");
		lim.fields_max = 2;
		is_int(pt_http_parse_response(buf, sizeof(r) - 1, &lim, test_pool, &h),
		    PT_OK, "response: fields at the limit");
		is_int(h.version, 11, "response: version 11");
		is_int(h.idx[PT_HF_OTHER], 0, "response: idx of first field");
		free(buf);
		pt_pool_reset(test_pool);
	}
}

/*---- head end -----------------------------------------------------------*/

struct head_case {
	const char	*desc;
	const char	*raw;
	size_t		 len;
	long		 rc;	/* -1: the whole input is the head */
	int		 is_request;
	size_t		 line_max, head_max;	/* 0: test_lim's */
};

#define HE(d, raw, rc, req)	{ d, raw, sizeof(raw) - 1, rc, req, 0, 0 }
#define HE_LIM(d, raw, rc, req, lm, hm)	{ d, raw, sizeof(raw) - 1, rc, req, lm, hm }

static const struct head_case head_cases[] = {
	HE("CRLF head", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", -1, 1),
	HE("LF head", "GET / HTTP/1.1\nHost: a\n\n", -1, 1),
	HE("LF then CRLF", "GET / HTTP/1.1\nHost: a\n\r\n", -1, 1),
	HE("CRLF then LF", "GET / HTTP/1.1\r\nHost: a\r\n\n", -1, 1),
	HE("no fields", "GET / HTTP/1.0\r\n\r\n", -1, 1),
	HE("pipelined bytes after the head",
	    "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n", 27, 1),
	HE("body after the head", "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\n\r\n\r\n",
	    38, 1),
	HE("leading empty lines are not the end", "\r\n\nGET / HTTP/1.0\r\n\r\n", -1, 1),
	HE("only empty lines", "\r\n\r\n\n", PT_AGAIN, 1),
	HE("incomplete head", "GET / HTTP/1.1\r\nHost: a\r\n", PT_AGAIN, 1),
	HE("incomplete, ends in CR", "GET / HTTP/1.1\r\nHost: a\r\n\r", PT_AGAIN, 1),
	HE("response head", "HTTP/1.1 200 OK\r\n\r\nbody", 19, 0),
	HE("NUL in field", "GET / HTTP/1.1\r\nX: \0\r\n\r\n", -400, 1),
	HE("NUL before any LF", "GET /\0", -400, 1),
	HE("bare CR in request line", "GET /\rx HTTP/1.1\r\n\r\n", -400, 1),
	HE("bare CR in field", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", -400, 1),
	HE("CR CR LF", "GET / HTTP/1.1\r\r\n\r\n", -400, 1),
	HE_LIM("request line too long", "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n",
	    -414, 1, 32, 0),
	HE_LIM("request line too long, unterminated",
	    "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", -414, 1, 32, 0),
	HE_LIM("request line at line_max", "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
	    -1, 1, 32, 0),
	HE_LIM("request line at line_max, CR pending",
	    "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaa\r", PT_AGAIN, 1, 32, 0),
	HE_LIM("field line too long", "GET / HTTP/1.1\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
	    -431, 1, 32, 0),
	HE_LIM("field line too long, unterminated",
	    "GET / HTTP/1.1\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", -431, 1, 32, 0),
	HE_LIM("NUL early in a line that is too long",
	    "GET /a\0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n", -400, 1, 32, 0),
	HE_LIM("NUL just past line_max", "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaa\0 HTTP/1.1\r\n\r\n",
	    -414, 1, 32, 0),
	HE_LIM("bare CR early in a line that is too long",
	    "GET / HTTP/1.1\r\nX: a\rbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n\r\n", -400, 1, 32, 0),
	HE_LIM("CR at line_max, then more", "GET / HTTP/1.1\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\rb\r\n\r\n",
	    -431, 1, 32, 0),
	HE_LIM("status line too long is 431",
	    "HTTP/1.1 200 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", -431, 0, 32, 0),
	HE_LIM("head too large", "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
	    -431, 1, 0, 32),
	HE_LIM("head too large, unterminated", "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3",
	    -431, 1, 0, 32),
	HE_LIM("head exactly head_max", "GET / HTTP/1.1\r\nA: 12\r\nB: 34\r\n\r\n",
	    -1, 1, 0, 32),
	HE_LIM("head_max + 1", "GET / HTTP/1.1\r\nA: 12\r\nB: 345\r\n\r\n",
	    -431, 1, 0, 32),
};

/* feed <raw> whole, or growing by one byte per call */
static long
feed_head(const struct head_case *t, const struct pt_http_limits *lim,
    int bytewise)
{
	size_t	 scan = 0, n;
	ssize_t	 rc = PT_AGAIN;
	char	*buf;

	if (!bytewise) {
		buf = dup_exact(t->raw, t->len);
		rc = pt_http_find_head_end(buf, t->len, &scan, lim, t->is_request);
		free(buf);
		return rc;
	}
	for (n = 1; n <= t->len && rc == PT_AGAIN; n++) {
		buf = dup_exact(t->raw, n);
		rc = pt_http_find_head_end(buf, n, &scan, lim, t->is_request);
		free(buf);
	}
	return rc;
}

static void
test_head_end(void)
{
	const struct head_case	*t;
	struct pt_http_limits	 lim;
	char			 d[160];
	size_t			 i;
	long			 want;

	for (i = 0; i < PT_NELEM(head_cases); i++) {
		t = &head_cases[i];
		lim = test_lim;
		if (t->line_max > 0)
			lim.line_max = t->line_max;
		if (t->head_max > 0)
			lim.head_max = t->head_max;
		want = t->rc == -1 ? (long)t->len : t->rc;
		snprintf(d, sizeof(d), "head end: %s", t->desc);
		is_int(feed_head(t, &lim, 0), want, d);
		snprintf(d, sizeof(d), "head end: %s (byte by byte)", t->desc);
		is_int(feed_head(t, &lim, 1), want, d);
	}
}

/*---- chunked ------------------------------------------------------------*/

struct chunk_case {
	const char	*desc;
	const char	*raw;
	size_t		 len;
	int		 rc;		/* final: PT_DONE, PT_ERROR or PT_AGAIN */
	const char	*body;
	long		 used;		/* bytes consumed; -1: all */
};

#define CH(d, raw, rc, body, used)	{ d, raw, sizeof(raw) - 1, rc, body, used }

static const struct chunk_case chunk_cases[] = {
	CH("one chunk", "5\r\nhello\r\n0\r\n\r\n", PT_DONE, "hello", -1),
	CH("two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", PT_DONE,
	    "hello world", -1),
	CH("hex sizes any case", "a\r\n0123456789\r\nB\r\nabcdefghijk\r\n0\r\n\r\n",
	    PT_DONE, "0123456789abcdefghijk", -1),
	CH("leading zeros", "0005\r\nhello\r\n000\r\n\r\n", PT_DONE, "hello", -1),
	CH("empty body", "0\r\n\r\n", PT_DONE, "", -1),
	CH("chunk-ext", "5;name=val\r\nhello\r\n0;x\r\n\r\n", PT_DONE, "hello", -1),
	CH("chunk-ext quoted", "5;a=\"b c\";d\r\nhello\r\n0\r\n\r\n", PT_DONE, "hello", -1),
	CH("BWS before chunk-ext", "5 \t;a\r\nhello\r\n0\r\n\r\n", PT_DONE, "hello", -1),
	CH("trailer fields", "5\r\nhello\r\n0\r\nX-T: 1\r\nY:\r\n\r\n", PT_DONE, "hello", -1),
	CH("LF-only size lines and end", "5\nhello\r\n0\nX: 1\n\n", PT_DONE, "hello", -1),
	CH("next message follows", "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n", PT_DONE,
	    "abc", 13),
	CH("data with CRLF inside", "4\r\n\r\n\r\n\r\n0\r\n\r\n", PT_DONE, "\r\n\r\n", -1),
	CH("incomplete data", "5\r\nhel", PT_AGAIN, "hel", -1),
	CH("incomplete size line", "5", PT_AGAIN, "", -1),
	CH("incomplete trailer", "0\r\nX: 1\r\n", PT_AGAIN, "", -1),
	CH("largest size", "7fffffffffffffff\r\n", PT_AGAIN, "", -1),
	CH("bad hex", "g\r\n", PT_ERROR, "", 1),
	CH("bad hex after digits", "5g\r\nhello\r\n", PT_ERROR, "", 2),
	CH("empty size", "\r\nhello\r\n", PT_ERROR, "", 1),
	CH("negative size", "-1\r\n", PT_ERROR, "", 1),
	CH("0x prefix", "0x5\r\nhello\r\n", PT_ERROR, "", 2),
	CH("space before CRLF", "5 \r\nhello\r\n0\r\n\r\n", PT_ERROR, "", 3),
	CH("17 hex digits", "00000000000000005\r\n", PT_ERROR, "", 17),
	CH("size 2^63", "8000000000000000\r\n", PT_ERROR, "", 16),
	CH("size 2^64", "10000000000000000\r\n", PT_ERROR, "", 17),
	CH("data not followed by CRLF", "5\r\nhelloX\r\n0\r\n\r\n", PT_ERROR, "hello", 9),
	CH("data followed by LF only", "5\r\nhello\n0\r\n\r\n", PT_ERROR, "hello", 9),
	CH("data followed by CR only", "5\r\nhello\rX", PT_ERROR, "hello", 10),
	CH("bare CR in size line", "5\rX\r\n", PT_ERROR, "", 3),
	CH("NUL in chunk-ext", "5;a\0\r\nhello\r\n", PT_ERROR, "", 4),
	CH("CTL in chunk-ext", "5;a\x01\r\nhello\r\n", PT_ERROR, "", 4),
	CH("trailer obs-fold", "0\r\nA: b\r\n c\r\n\r\n", PT_ERROR, "", 10),
	CH("trailer without colon", "0\r\nfoo\r\n\r\n", PT_ERROR, "", 7),
	CH("trailer bare CR", "0\r\nA: b\rc\r\n\r\n", PT_ERROR, "", 9),
	CH("final CR without LF", "0\r\n\rX", PT_ERROR, "", 5),
	CH("trailer name with space", "0\r\nA b: c\r\n\r\n", PT_ERROR, "", 5),
};

struct chunk_result {
	int	 rc;
	size_t	 used;
	char	*body;
	size_t	 blen;
	int	 bad_run;	/* a data run was empty or outside the input */
};

static void
chunk_append(struct chunk_result *r, const char *data, size_t n)
{
	r->body = realloc(r->body, r->blen + n + 1);
	if (r->body == NULL)
		abort();
	memcpy(r->body + r->blen, data, n);
	r->blen += n;
}

/* run the decoder over <raw>, whole or one byte per buffer */
static void
feed_chunked(const char *raw, size_t len, int bytewise, struct chunk_result *r)
{
	struct pt_http_chunked	 c;
	const char		*pos, *data;
	size_t			 dlen, off, n;
	char			*buf;

	memset(&c, 0, sizeof(c));
	memset(r, 0, sizeof(*r));
	r->rc = PT_AGAIN;
	for (off = 0; off < len;) {
		n = bytewise ? 1 : len - off;
		buf = dup_exact(raw + off, n);
		pos = buf;
		while ((r->rc = pt_http_parse_chunked(&c, &pos, buf + n, &data,
		    &dlen)) == PT_OK) {
			if (data < buf || data + dlen > buf + n || dlen == 0)
				r->bad_run = 1;
			chunk_append(r, data, dlen);
		}
		off += (size_t)(pos - buf);
		free(buf);
		if (r->rc != PT_AGAIN)
			break;
	}
	r->used = off;
	chunk_append(r, "", 0);
	r->body[r->blen] = '\0';
}

static void
check_chunked(const char *desc, const char *raw, size_t len, int rc,
    const char *body, size_t blen, long used)
{
	struct chunk_result	 r;
	char			 d[160];
	int			 bytewise;

	for (bytewise = 0; bytewise < 2; bytewise++) {
		const char *how = bytewise ? " (byte by byte)" : "";

		feed_chunked(raw, len, bytewise, &r);
		snprintf(d, sizeof(d), "chunked: %s%s", desc, how);
		is_int(r.rc, rc, d);
		snprintf(d, sizeof(d), "chunked: %s%s: body", desc, how);
		ok(!r.bad_run && r.blen == blen &&
		    memcmp(r.body, body, blen) == 0, "%s", d);
		snprintf(d, sizeof(d), "chunked: %s%s: consumed", desc, how);
		is_int((long)r.used, used < 0 ? (long)len : used, d);
		free(r.body);
	}
}

static void
test_chunked(void)
{
	const struct chunk_case	*t;
	struct pt_http_chunked	 c;
	const char		*pos, *data;
	size_t			 i, dlen;
	char			*big;

	for (i = 0; i < PT_NELEM(chunk_cases); i++) {
		t = &chunk_cases[i];
		check_chunked(t->desc, t->raw, t->len, t->rc, t->body,
		    strlen(t->body), t->used);
	}

	/* line limits: 4096 bytes of size line or trailer line content */
	big = malloc(8192);
	if (big == NULL)
		abort();
	memcpy(big, "1;", 2);
	memset(big + 2, 'e', 4094);
	memcpy(big + 4096, "\r\nx\r\n0\r\n\r\n", 10);
	check_chunked("chunk-ext line at 4096", big, 4106, PT_DONE, "x", 1, -1);
	memcpy(big, "1;", 2);
	memset(big + 2, 'e', 4095);
	memcpy(big + 4097, "\r\nx\r\n0\r\n\r\n", 10);
	check_chunked("chunk-ext line over 4096", big, 4107, PT_ERROR, "", 0, 4097);
	memcpy(big, "0\r\nX:", 5);
	memset(big + 5, 'v', 4094);
	memcpy(big + 4099, "\r\n\r\n", 4);
	check_chunked("trailer line at 4096", big, 4103, PT_DONE, "", 0, -1);
	memcpy(big, "0\r\nX:", 5);
	memset(big + 5, 'v', 4095);
	memcpy(big + 4100, "\r\n\r\n", 4);
	check_chunked("trailer line over 4096", big, 4104, PT_ERROR, "", 0, 4100);
	free(big);

	/* the whole trailer section is bounded too: 103-byte lines */
	{
		size_t len = 3, nl = 32768 / 103 + 2, used;

		big = malloc(3 + nl * 105 + 2);
		if (big == NULL)
			abort();
		memcpy(big, "0\r\n", 3);
		for (i = 0; i < nl; i++) {
			memcpy(big + len, "X: ", 3);
			memset(big + len + 3, 'v', 100);
			memcpy(big + len + 103, "\r\n", 2);
			len += 105;
		}
		memcpy(big + len, "\r\n", 2);
		len += 2;
		used = 3 + (32768 / 103) * 105 + 32768 % 103 + 1;
		check_chunked("trailer section over 32768", big, len, PT_ERROR,
		    "", 0, (long)used);
		/* 300 lines, 30900 bytes: reuse the tail behind a new "0" line */
		memcpy(big + (nl - 300) * 105, "0\r\n", 3);
		check_chunked("trailer section under the limit",
		    big + (nl - 300) * 105, len - (nl - 300) * 105, PT_DONE,
		    "", 0, -1);
		free(big);
	}

	/* the decoder stays finished, and stays failed */
	memset(&c, 0, sizeof(c));
	pos = "0\r\n\r\nX";
	is_int(pt_http_parse_chunked(&c, &pos, pos + 6, &data, &dlen), PT_DONE,
	    "chunked: done");
	is_int(pt_http_parse_chunked(&c, &pos, pos + 1, &data, &dlen), PT_DONE,
	    "chunked: done again, nothing consumed");
	is_int(*pos, 'X', "chunked: pos left at the next message");
	memset(&c, 0, sizeof(c));
	pos = "z";
	is_int(pt_http_parse_chunked(&c, &pos, pos + 1, &data, &dlen), PT_ERROR,
	    "chunked: error");
	pos = "0\r\n\r\n";
	is_int(pt_http_parse_chunked(&c, &pos, pos + 5, &data, &dlen), PT_ERROR,
	    "chunked: error is sticky");
}

/*---- request-target -----------------------------------------------------*/

struct target_case {
	const char	*target;
	int		 rc;
	const char	*uri;
	const char	*args;
	const char	*authority;
};

static const struct target_case target_cases[] = {
	{ "/", PT_OK, "/", NULL, NULL },
	{ "/a/b", PT_OK, "/a/b", NULL, NULL },
	{ "/a/b?x=1&y=%41/../", PT_OK, "/a/b", "x=1&y=%41/../", NULL },
	{ "/?", PT_OK, "/", "", NULL },
	{ "/a/../b", PT_OK, "/b", NULL, NULL },
	{ "/a/./b", PT_OK, "/a/b", NULL, NULL },
	{ "/a/.", PT_OK, "/a/", NULL, NULL },
	{ "/a/..", PT_OK, "/", NULL, NULL },
	{ "/a/b/../../c/", PT_OK, "/c/", NULL, NULL },
	{ "//a///b//", PT_OK, "/a/b/", NULL, NULL },
	{ "/a/%2e%2e/b", PT_OK, "/b", NULL, NULL },
	{ "/a/%2E./b", PT_OK, "/b", NULL, NULL },
	{ "/%2e", PT_OK, "/", NULL, NULL },
	{ "/a/%2e%2e%2fb", PT_OK, "/b", NULL, NULL },
	{ "/%41%62%7e", PT_OK, "/Ab~", NULL, NULL },
	{ "/a%2fb", PT_OK, "/a/b", NULL, NULL },
	{ "/a%2F%2Fb", PT_OK, "/a/b", NULL, NULL },
	{ "/...", PT_OK, "/...", NULL, NULL },
	{ "/.a/..b/", PT_OK, "/.a/..b/", NULL, NULL },
	{ "/%3F?q", PT_OK, "/?", "q", NULL },
	{ "/a%20b", PT_OK, "/a b", NULL, NULL },
	{ "/..", -400, NULL, NULL, NULL },
	{ "/../a", -400, NULL, NULL, NULL },
	{ "/a/../..", -400, NULL, NULL, NULL },
	{ "/%2e%2e/x", -400, NULL, NULL, NULL },
	{ "/%2E%2e", -400, NULL, NULL, NULL },
	{ "/a/%2e%2e%2f%2e%2e", -400, NULL, NULL, NULL },
	{ "/a%00b", -400, NULL, NULL, NULL },
	{ "/a%2", -400, NULL, NULL, NULL },
	{ "/a%", -400, NULL, NULL, NULL },
	{ "/a%zz", -400, NULL, NULL, NULL },
	{ "/a%g1", -400, NULL, NULL, NULL },
	{ "/a#frag", -400, NULL, NULL, NULL },
	{ "/a b", -400, NULL, NULL, NULL },
	{ "/a\x01", -400, NULL, NULL, NULL },
	{ "/caf\xc3\xa9", -400, NULL, NULL, NULL },
	{ "http://example.com/a?b", PT_OK, "/a", "b", "example.com" },
	{ "HTTPS://Ex.com:8443", PT_OK, "/", NULL, "Ex.com:8443" },
	{ "http://h?q", PT_OK, "/", "q", "h" },
	{ "http://h/a/../../x", -400, NULL, NULL, NULL },
	{ "http:///a", -400, NULL, NULL, NULL },
	{ "http://", -400, NULL, NULL, NULL },
	{ "ftp://x/", -400, NULL, NULL, NULL },
	{ "httpx://x/", -400, NULL, NULL, NULL },
	{ "*", PT_OK, "*", NULL, NULL },
	{ "**", -400, NULL, NULL, NULL },
	{ "example.com:443", -400, NULL, NULL, NULL },
	{ "a/b", -400, NULL, NULL, NULL },
	{ "", -400, NULL, NULL, NULL },
};

static void
test_targets(void)
{
	const struct target_case	*t;
	struct pt_str			 target, uri, args, auth;
	char				 d[160];
	size_t				 i;
	char				*buf;
	int				 rc;

	for (i = 0; i < PT_NELEM(target_cases); i++) {
		t = &target_cases[i];
		buf = dup_exact(t->target, strlen(t->target));
		target.data = buf;
		target.len = strlen(t->target);
		rc = pt_http_parse_target(test_pool, target, &uri, &args, &auth);
		snprintf(d, sizeof(d), "target \"%s\"", t->target);
		is_int(rc, t->rc, d);
		if (rc == PT_OK && t->rc == PT_OK) {
			snprintf(d, sizeof(d), "target \"%s\": uri", t->target);
			is_str(uri, t->uri, d);
			ok(uri.data[uri.len] == '\0', "target \"%s\": uri NUL-terminated",
			    t->target);
			snprintf(d, sizeof(d), "target \"%s\": args", t->target);
			is_str(args, t->args, d);
			snprintf(d, sizeof(d), "target \"%s\": authority", t->target);
			is_str(auth, t->authority, d);
			if (args.data != NULL)
				ok(args.data >= buf && args.data + args.len <= buf +
				    target.len, "target \"%s\": args point into the target",
				    t->target);
		}
		free(buf);
		pt_pool_reset(test_pool);
	}
}

/*---- Host ---------------------------------------------------------------*/

static const struct {
	const char	*value;
	int		 rc;
	const char	*host;
} host_cases[] = {
	{ "example.com", PT_OK, "example.com" },
	{ "Example.COM:8080", PT_OK, "example.com" },
	{ "example.com.", PT_OK, "example.com" },
	{ "example.com.:80", PT_OK, "example.com" },
	{ "127.0.0.1:80", PT_OK, "127.0.0.1" },
	{ "[::1]:8080", PT_OK, "[::1]" },
	{ "[2001:DB8::1]", PT_OK, "[2001:db8::1]" },
	{ "[::ffff:192.0.2.1]", PT_OK, "[::ffff:192.0.2.1]" },
	{ "host:", PT_OK, "host" },
	{ "host:65535", PT_OK, "host" },
	{ "host:1", PT_OK, "host" },
	{ "a_b-c~d", PT_OK, "a_b-c~d" },
	{ "user@host", -400, NULL },
	{ "user:pw@host", -400, NULL },
	{ "host:0", -400, NULL },
	{ "host:00000", -400, NULL },
	{ "host:65536", -400, NULL },
	{ "host:123456", -400, NULL },
	{ "host:4294967376", -400, NULL },
	{ "host:8o", -400, NULL },
	{ "host:-1", -400, NULL },
	{ "host:80:81", -400, NULL },
	{ "", -400, NULL },
	{ ".", -400, NULL },
	{ ":80", -400, NULL },
	{ "a b", -400, NULL },
	{ "a/b", -400, NULL },
	{ "a\\b", -400, NULL },
	{ "a?b", -400, NULL },
	{ "a#b", -400, NULL },
	{ "a%41", -400, NULL },
	{ "a\tb", -400, NULL },
	{ "[::1", -400, NULL },
	{ "[]", -400, NULL },
	{ "[::1]x", -400, NULL },
	{ "[g::1]", -400, NULL },
	{ "[1]", -400, NULL },
	{ "[::1].", -400, NULL },
	{ "caf\xc3\xa9", -400, NULL },
};

static void
test_hosts(void)
{
	struct pt_str	 v, host;
	char		 d[160];
	size_t		 i;
	char		*buf;
	int		 rc;

	for (i = 0; i < PT_NELEM(host_cases); i++) {
		v.len = strlen(host_cases[i].value);
		buf = dup_exact(host_cases[i].value, v.len);
		v.data = buf;
		rc = pt_http_parse_host(test_pool, v, &host);
		snprintf(d, sizeof(d), "host \"%s\"", host_cases[i].value);
		is_int(rc, host_cases[i].rc, d);
		if (rc == PT_OK && host_cases[i].rc == PT_OK) {
			snprintf(d, sizeof(d), "host \"%s\": normalised",
			    host_cases[i].value);
			is_str(host, host_cases[i].host, d);
			ok(host.data[host.len] == '\0', "host \"%s\": NUL-terminated",
			    host_cases[i].value);
		}
		free(buf);
		pt_pool_reset(test_pool);
	}
}

int
main(void)
{
	/* line-buffered, so a crash still shows how far the tests got */
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_pool = pt_pool_create(PT_POOL_BLOCK);
	test_requests();
	test_request_details();
	test_many_fields();
	test_bad_byte_offsets();
	test_method_id();
	test_responses();
	test_head_end();
	test_chunked();
	test_targets();
	test_hosts();
	pt_pool_destroy(test_pool);
	printf("1..%d\n", test_n);
	if (test_failed > 0)
		printf("# %d of %d failed\n", test_failed, test_n);
	return test_failed > 0;
}
