/*
 * proxy_module.c: the proxy content handler (worker). One request to one
 * upstream connection at a time: build the request head, stream the
 * request body, read and check the response head as strictly as client
 * requests, then relay the body through a fixed set of buffers so memory
 * stays bounded whatever the response size. Upstream connections go back
 * to the group's keep-alive cache when the response was complete.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "proxy.h"
#include "proxy_retry.h"
#include "../tls/tls.h"

#define PROXY_HEADROOM	18	/* room for chunk framing in front of data */
#define PROXY_TAILROOM	2

struct proxy_ctx {
	struct pt_request	*r;
	struct proxy_loc	*conf;
	struct pt_upstream	*u;
	struct pt_upstream_peer	*peer;
	struct pt_conn		*uc;		/* upstream connection */
	uint64_t		 tried[4];	/* peers tried (bitmap) */
	int			 tries;
	pt_msec_t		 first_start;	/* first try (proxy_next_upstream_timeout) */
	struct pt_upstream_waiter wait;		/* in the group's queue */

	struct pt_buf		*req;		/* request head (and buffered body) */
	struct pt_buf		*req_out;	/* chain still to write upstream */
	struct pt_buf		*body;		/* request body streaming buffer */
	struct pt_buf		 body_hdr;	/* chunk framing of <body> */
	char			 body_hdr_data[24];
	unsigned		 reused:1;	/* uc came from the keep-alive cache */
	unsigned		 connecting:1;
	unsigned		 head_sent:1;	/* request head written */
	unsigned		 body_sent:1;	/* whole request written */
	unsigned		 body_streamed:1; /* some body bytes were sent: no retry */
	unsigned		 body_whole:1;	/* ... but all of it is still in <body>: retry */
	char			*body_whole_pos; /* where <body>'s bytes start */
	unsigned		 chunk_body:1;	/* re-encode the body as chunked */
	unsigned		 got_bytes:1;	/* any response byte arrived */

	/* response */
	struct pt_buf		*in;		/* response head buffer */
	size_t			 scan;
	struct pt_http_head	 head;
	unsigned		 header_done:1;
	unsigned		 resp_chunked:1;
	unsigned		 dechunk:1;	/* client cannot take chunked: decode */
	unsigned		 resp_done:1;
	unsigned		 upstream_keepalive:1;
	int64_t			 resp_left;	/* CL bytes left, -1 unknown */
	struct pt_http_chunked	 chunked;
	struct pt_buf		**bufs;		/* body buffers, created on first use */
	int			 nbufs;
	size_t			 bufsize;
	pt_msec_t		 start;		/* for $upstream_*_time */
	pt_msec_t		 connect_ms, header_ms;
	struct pt_timer		 ka_dummy;
	/* proxy_limit_rate: body bytes read since <rate_start> */
	uint64_t		 rate_read;
	pt_msec_t		 rate_start;
	struct pt_timer		 rate_timer;	/* resumes reading; handler set = in use */
};

static void proxy_connect(struct proxy_ctx *px);
static void proxy_upstream_read(struct pt_conn *uc);
static void proxy_upstream_write(struct pt_conn *uc);
static void proxy_relay(struct proxy_ctx *px);
static void proxy_send_body(struct proxy_ctx *px);

static struct pt_str
proxy_time(struct pt_request *r, pt_msec_t ms)
{
	char *p = pt_palloc(r->pool, 24);

	return (struct pt_str){ (size_t)(pt_fmt_msec(p, ms) - p), p };
}

/* append "<sep><v>" to one of the $upstream_* lists */
static void
proxy_var_append(struct pt_request *r, struct pt_str *dst, struct pt_str v)
{
	char *p;

	if (dst->len == 0) {
		*dst = v;
		return;
	}
	p = pt_palloc(r->pool, dst->len + 2 + v.len);
	memcpy(p, dst->data, dst->len);
	memcpy(p + dst->len, ", ", 2);
	memcpy(p + dst->len + 2, v.data, v.len);
	dst->data = p;
	dst->len += 2 + v.len;
}

/* release the upstream connection: to the cache when <keep>, else closed */
static void
proxy_release(struct proxy_ctx *px, int keep, int failed)
{
	struct pt_conn *uc = px->uc;

	if (uc == NULL)
		return;
	px->uc = NULL;
	pt_timer_del(&uc->timer);
	uc->on_read = uc->on_write = NULL;
	uc->data = NULL;
	if (keep && px->conf->http_version == 1)
		pt_upstream_idle_put(px->u, px->peer, uc);
	else
		pt_conn_close(uc, failed ? PT_CLOSE_UPSTREAM_ERROR : PT_CLOSE_DONE);
	pt_upstream_peer_put(px->u, px->peer, failed);
}

static void
proxy_cleanup(void *data)
{
	struct proxy_ctx *px = data;
	int i;

	/* the request ended while the upstream was still busy */
	pt_upstream_queue_cancel(&px->wait);
	if (px->rate_timer.handler != NULL)
		pt_timer_del(&px->rate_timer);
	proxy_release(px, 0, 0);
	for (i = 0; i < px->nbufs; i++)
		pt_iobuf_put(px->bufs[i]);
	pt_iobuf_put(px->in);
}

static void
proxy_finish(struct proxy_ctx *px, int rc)
{
	struct pt_request *r = px->r;

	if (px->uc != NULL)
		proxy_release(px, 0, 0);	/* not the server's failure */
	pt_http_finalize(r, rc);
}

static void proxy_fail_ft(struct proxy_ctx *px, unsigned ft, int status, const char *why,
    int err);

/* give up on the current peer; try another or answer <status> */
static void
proxy_fail(struct proxy_ctx *px, int status, const char *why, int err)
{
	proxy_fail_ft(px, status == 504 ? PROXY_FT_TIMEOUT : PROXY_FT_ERROR, status, why, err);
}

/* the same, for a failure of kind <ft> (PROXY_FT_*, proxy_retry.h) */
static void
proxy_fail_ft(struct proxy_ctx *px, unsigned ft, int status, const char *why, int err)
{
	struct pt_request *r = px->r;
	int can_retry, free_retry, sent;

	pt_log(status == 504 ? PT_LOG_ERR : PT_LOG_ERR, err, "%s while %s upstream \"%s\", client: %s, "
	    "request: \"%.*s\"", why, px->header_done ? "reading response from" :
	    "talking to", px->peer ? px->peer->name : "?", r->c->peer.text,
	    (int)r->request_line.len, r->request_line.data);
	if (px->peer != NULL && !px->header_done) {
		proxy_var_append(r, &r->upstream_status, status == 504 ? PT_STR("504") : PT_STR("502"));
		proxy_var_append(r, &r->upstream_response_time,
		    proxy_time(r, pt_current_msec - px->start));
	}
	/* nothing went to the client and no body byte is lost: another try is safe */
	can_retry = !px->header_done && (!px->body_streamed || px->body_whole);
	/* a dead idle connection is not the peer's fault: retry it for free */
	free_retry = can_retry && px->reused && !px->got_bytes && ft == PROXY_FT_ERROR;
	sent = px->uc != NULL && !px->connecting;
	proxy_release(px, 0, !free_retry && pt_proxy_next_counts(r, ft));
	if (px->header_done) {
		r->close_reason = status == 504 ? PT_CLOSE_UPSTREAM_TIMEOUT : PT_CLOSE_UPSTREAM_ERROR;
		pt_http_finalize(r, PT_ERROR);
		return;
	}
	if (free_retry || (can_retry && pt_proxy_next_allowed(r, ft, ++px->tries,
	    px->first_start, sent, px->u))) {
		if (free_retry && px->peer != NULL) {
			/* the same peer may be tried again with a fresh connection */
			int idx = (int)(px->peer - px->u->peers);

			px->tried[idx / 64] &= ~(1ULL << (idx % 64));
		}
		px->reused = 0;
		px->head_sent = px->body_sent = 0;
		proxy_connect(px);
		return;
	}
	pt_http_finalize(r, status);
}

/*
 * The response head of status <status> arrived and nothing was sent to
 * the client yet: if proxy_next_upstream lists the status and a retry is
 * allowed, drop the response, close the connection and try the next
 * server. Returns 1 when the request went on to another try.
 */
static int
proxy_retry_status(struct proxy_ctx *px, int status)
{
	struct pt_request *r = px->r;
	unsigned ft = pt_proxy_next_status(r, status);
	char *s;

	if (ft == 0 || (px->body_streamed && !px->body_whole) ||
	    !pt_proxy_next_allowed(r, ft, px->tries + 1, px->first_start, 1, px->u))
		return 0;
	px->tries++;
	s = pt_palloc(r->pool, 8);
	proxy_var_append(r, &r->upstream_status,
	    (struct pt_str){ (size_t)(pt_fmt_u64(s, (uint64_t)status) - s), s });
	proxy_var_append(r, &r->upstream_response_time, proxy_time(r, pt_current_msec - px->start));
	pt_log(PT_LOG_WARN, 0, "upstream \"%s\" answered %d, trying the next server, client: %s, "
	    "request: \"%.*s\"", px->peer->name, status, r->c->peer.text,
	    (int)r->request_line.len, r->request_line.data);
	proxy_release(px, 0, pt_proxy_next_counts(r, ft));
	px->reused = 0;
	px->head_sent = px->body_sent = 0;
	proxy_connect(px);
	return 1;
}

static void
proxy_upstream_timeout(struct pt_timer *t)
{
	struct proxy_ctx *px = ((struct pt_conn *)t->data)->data;

	proxy_fail(px, 504, px->connecting ? "upstream timed out (connect)" :
	    "upstream timed out", ETIMEDOUT);
}

/* copy <s> into <p>, escaping bytes that may not appear in a request-target path */
static char *
proxy_escape_path(char *p, struct pt_str s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < s.len; i++) {
		unsigned char ch = (unsigned char)s.data[i];

		if (ch <= 0x20 || ch >= 0x7f || ch == '%' || ch == '?' || ch == '#' || ch == '"') {
			*p++ = '%';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 15];
		} else
			*p++ = (char)ch;
	}
	return p;
}

/* is <name> set by one of the proxy_set_header entries? */
static int
proxy_header_overridden(struct proxy_loc *pl, struct pt_str name)
{
	size_t i;

	for (i = 0; i < pl->headers->nelts; i++) {
		struct proxy_header *h = (struct proxy_header *)pl->headers->elts + i;

		if (h->name.len == name.len && strncasecmp(h->name.data, name.data, name.len) == 0)
			return 1;
	}
	return 0;
}

static int
proxy_create_request(struct proxy_ctx *px)
{
	struct pt_request *r = px->r;
	struct proxy_loc *pl = px->conf;
	struct pt_str *vals;
	struct pt_buf *b;
	size_t len, i, nh = pl->headers->nelts;
	char *p;
	int use_unparsed = !pl->has_uri && r->internal_redirects == 0;
	int send_body = pl->pass_request_body && (r->body_left > 0 || r->body_chunked);

	vals = pt_palloc(r->pool, sizeof(*vals) * (nh + 1));
	len = r->method.len + 1 + sizeof(" HTTP/1.1\r\n") + 2;
	if (use_unparsed)
		len += r->unparsed_uri.len;
	else
		len += pl->uri.len + 3 * r->uri.len + 1 + r->args.len;
	for (i = 0; i < nh; i++) {
		struct proxy_header *h = (struct proxy_header *)pl->headers->elts + i;

		pt_cv_eval(r, h->value, &vals[i]);
		if (vals[i].len)
			len += h->name.len + 2 + vals[i].len + 2;
	}
	if (pl->pass_request_headers) {
		for (i = 0; i < (size_t)r->head.nfields; i++) {
			struct pt_http_field *f = &r->head.fields[i];

			len += f->name.len + 2 + f->value.len + 2;
		}
	}
	len += sizeof("Transfer-Encoding: chunked\r\n") + sizeof("Content-Length: \r\n") + 24;

	b = pt_buf_create(r->pool, len);
	p = b->last;
	memcpy(p, r->method.data, r->method.len);
	p += r->method.len;
	*p++ = ' ';
	if (use_unparsed) {
		memcpy(p, r->unparsed_uri.data, r->unparsed_uri.len);
		p += r->unparsed_uri.len;
	} else if (pl->uri_whole) {
		/* proxy_pass with variables and a URI: that URI, as is */
		memcpy(p, pl->uri.data, pl->uri.len);
		p += pl->uri.len;
	} else {
		struct pt_str rest = r->uri;

		if (pl->has_uri) {
			memcpy(p, pl->uri.data, pl->uri.len);
			p += pl->uri.len;
			if (rest.len >= pl->loc_name.len) {
				rest.data += pl->loc_name.len;
				rest.len -= pl->loc_name.len;
			}
		}
		p = proxy_escape_path(p, rest);
		if (r->args.len) {
			*p++ = '?';
			memcpy(p, r->args.data, r->args.len);
			p += r->args.len;
		}
	}
	p += sprintf(p, pl->http_version == 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
	for (i = 0; i < nh; i++) {
		struct proxy_header *h = (struct proxy_header *)pl->headers->elts + i;

		if (vals[i].len == 0)
			continue;
		memcpy(p, h->name.data, h->name.len);
		p += h->name.len;
		*p++ = ':';
		*p++ = ' ';
		memcpy(p, vals[i].data, vals[i].len);
		p += vals[i].len;
		*p++ = '\r';
		*p++ = '\n';
	}
	if (pl->pass_request_headers) {
		for (i = 0; i < (size_t)r->head.nfields; i++) {
			struct pt_http_field *f = &r->head.fields[i];

			if (f->hop || f->id == PT_HF_HOST || proxy_header_overridden(pl, f->name))
				continue;
			/* the length is written once below, whatever the client sent */
			if (f->id == PT_HF_CONTENT_LENGTH)
				continue;
			memcpy(p, f->name.data, f->name.len);
			p += f->name.len;
			*p++ = ':';
			*p++ = ' ';
			memcpy(p, f->value.data, f->value.len);
			p += f->value.len;
			*p++ = '\r';
			*p++ = '\n';
		}
	}
	if (send_body && r->body_chunked) {
		/* HTTP/1.0 upstreams get the body buffered with a length */
		if (pl->http_version == 1) {
			px->chunk_body = 1;
			p += sprintf(p, "Transfer-Encoding: chunked\r\n");
		}
	} else if (send_body) {
		p = pt_cpylit(p, "Content-Length: ");
		p = pt_fmt_u64(p, (uint64_t)r->head.content_length);
		p = pt_cpylit(p, "\r\n");
	}
	if (!send_body)
		r->body_done = r->body_done || !pl->pass_request_body ? r->body_done : 1;
	*p++ = '\r';
	*p++ = '\n';
	b->last = p;
	px->req = b;
	return PT_OK;
}

/* read a whole chunked body for an HTTP/1.0 upstream (bounded by client_max_body_size) */
static int
proxy_buffer_chunked_body(struct proxy_ctx *px)
{
	struct pt_request *r = px->r;
	size_t max = r->loc->client_max_body_size ? r->loc->client_max_body_size : 64 * 1024 * 1024;

	for (;;) {
		ssize_t n;

		if (px->body == NULL || pt_buf_free(px->body) == 0) {
			struct pt_buf *nb = pt_buf_create(r->pool, 16384);

			if (px->body) {
				px->body->next = nb;
				nb->next = NULL;
			}
			/* keep the chain: first buffer is remembered in body_hdr.next */
			if (px->body_hdr.next == NULL)
				px->body_hdr.next = nb;
			px->body = nb;
		}
		n = pt_http_body_read(r, px->body);
		if (n > 0) {
			if (r->body_received > max)
				return -413;
			continue;
		}
		if (n == 0)
			return PT_OK;
		return (int)n;
	}
}

static void
proxy_body_ready(struct pt_request *r)
{
	struct proxy_ctx *px = pt_http_ctx(r, &pt_mod_proxy);

	if (px->req == NULL) {
		/* still buffering a chunked body for an HTTP/1.0 upstream */
		int rc = proxy_buffer_chunked_body(px);

		if (rc == PT_AGAIN)
			return;
		r->on_body = NULL;
		if (rc != PT_OK) {
			proxy_finish(px, rc < -1 ? -rc : PT_ERROR);
			return;
		}
		proxy_create_request(px);
		{
			struct pt_buf *b;
			char *p;
			size_t total = 0;

			for (b = px->body_hdr.next; b; b = b->next)
				total += pt_buf_size(b);
			/* append the length before the final CRLF of the head */
			p = pt_palloc(r->pool, pt_buf_size(px->req) + 40);
			memcpy(p, px->req->pos, pt_buf_size(px->req) - 2);
			total = (size_t)sprintf(p + pt_buf_size(px->req) - 2,
			    "Content-Length: %zu\r\n\r\n", total) + pt_buf_size(px->req) - 2;
			px->req = pt_buf_wrap(r->pool, p, total);
			px->req->next = px->body_hdr.next;
			px->body = NULL;
		}
		proxy_connect(px);
		return;
	}
	if (px->uc != NULL && px->head_sent && !px->body_sent)
		proxy_send_body(px);
}

/* a queued request may go on (<timed_out>: its queue time is over) */
static void
proxy_queue_wake(void *data, int timed_out)
{
	struct proxy_ctx *px = data;

	if (timed_out) {
		pt_log(PT_LOG_ERR, 0, "queue of upstream \"%s\" timed out", px->u->name);
		pt_http_finalize(px->r, 503);
		return;
	}
	proxy_connect(px);
}

static void
proxy_connect(struct proxy_ctx *px)
{
	struct pt_request *r = px->r;
	struct pt_conn *uc;
	int fd, one = 1;

	px->peer = pt_upstream_peer_get(px->u, r, px->tried);
	if (px->peer == NULL && px->u->queue_max > 0 && px->tries == 0) {
		/* `queue`: wait for a server, 503 when the wait is over */
		if (pt_upstream_queue_wait(px->u, &px->wait, proxy_queue_wake, px) == PT_OK)
			return;
		pt_log(PT_LOG_ERR, 0, "queue of upstream \"%s\" %s", px->u->name,
		    px->wait.deadline ? "timed out" : "is full");
		pt_http_finalize(r, 503);
		return;
	}
	if (px->peer == NULL) {
		pt_log(PT_LOG_ERR, 0, "no live upstreams while connecting to upstream \"%s\"",
		    px->u->name);
		pt_http_finalize(r, 502);
		return;
	}
	{
		int idx = (int)(px->peer - px->u->peers);

		if (idx >= 0 && idx < 256)
			px->tried[idx / 64] |= 1ULL << (idx % 64);
	}
	px->start = pt_current_msec;
	if (px->first_start == 0) {
		px->first_start = px->start;
		pt_proxy_next_request(r, px->u);
	}
	proxy_var_append(r, &r->upstream_addr, (struct pt_str){ strlen(px->peer->addr.text),
	    px->peer->addr.text });
	px->req_out = px->req;
	px->req->pos = px->req->start;
	if (px->body_whole) {
		px->body->pos = px->body_whole_pos;
		px->req->next = px->body;
	}
	px->got_bytes = 0;
	px->header_done = 0;
	px->scan = 0;
	if (px->in)
		px->in->pos = px->in->last = px->in->start;

	uc = pt_upstream_idle_get(px->u, px->peer);
	if (uc != NULL) {
		px->reused = 1;
		px->connecting = 0;
	} else {
		px->reused = 0;
		fd = socket(px->peer->addr.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			pt_log(PT_LOG_ALERT, errno, "socket() failed");
			pt_http_finalize(r, 502);
			return;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, (struct sockaddr *)&px->peer->addr.sa, px->peer->addr.len) == -1 &&
		    errno != EINPROGRESS) {
			int err = errno;

			close(fd);
			px->uc = NULL;
			proxy_fail(px, 502, "connect() failed", err);
			return;
		}
		uc = pt_conn_new(fd, &px->peer->addr);
		if (uc == NULL) {
			close(fd);
			pt_http_finalize(r, 502);
			return;
		}
		uc->upstream = 1;
		px->connecting = 1;
	}
	px->uc = uc;
	uc->data = px;
	uc->on_read = proxy_upstream_read;
	uc->on_write = proxy_upstream_write;
	uc->timer.handler = proxy_upstream_timeout;
	uc->timer.data = uc;
	pt_timer_set(&uc->timer, px->connecting ? px->conf->connect_timeout : px->conf->send_timeout);
	if (!px->connecting || uc->writable)
		proxy_upstream_write(uc);
}

/* frame the body buffer as one chunk in place */
static void
proxy_frame_chunk(struct proxy_ctx *px, struct pt_buf *b, int last)
{
	size_t n = pt_buf_size(b);
	int hl = 0;

	if (n > 0) {
		char hex[20];

		hl = snprintf(hex, sizeof(hex), "%zx\r\n", n);
		b->pos -= hl;
		memcpy(b->pos, hex, (size_t)hl);
		memcpy(b->last, "\r\n", 2);
		b->last += 2;
	}
	if (last) {
		memcpy(b->last, "0\r\n\r\n", 5);
		b->last += 5;
	}
	(void)px;
}

/* stream the request body: read from the client, write to the upstream */
static void
proxy_send_body(struct proxy_ctx *px)
{
	struct pt_request *r = px->r;
	ssize_t n;
	int rc;

	for (;;) {
		if (px->req_out != NULL) {
			rc = pt_conn_send_chain(px->uc, &px->req_out);
			if (rc == PT_AGAIN) {
				pt_timer_set(&px->uc->timer, px->conf->send_timeout);
				return;
			}
			if (rc == PT_ERROR) {
				proxy_fail(px, 502, "send() failed", errno);
				return;
			}
			px->head_sent = 1;
		}
		if (r->body_done || !px->conf->pass_request_body || px->body == NULL) {
			px->body_sent = 1;
			r->on_body = NULL;
			pt_timer_set(&px->uc->timer, px->conf->read_timeout);
			return;
		}
		/* refill the body buffer, leaving room for chunk framing */
		px->body->pos = px->body->last = px->body->start + PROXY_HEADROOM;
		px->body->end = px->body->start + (px->body->end - px->body->start);
		{
			struct pt_buf lim = *px->body;

			lim.end -= PROXY_TAILROOM + 5;
			n = pt_http_body_read(r, &lim);
			px->body->last = lim.last;
		}
		if (n == PT_AGAIN) {
			pt_http_body_wait(r, proxy_body_ready);
			return;
		}
		if (n < 0) {
			r->on_body = NULL;
			if (n == PT_ERROR) {
				r->close_reason = PT_CLOSE_CLIENT_ERROR;
				proxy_finish(px, PT_ERROR);
			} else
				proxy_finish(px, (int)-n);
			return;
		}
		if (px->chunk_body)
			proxy_frame_chunk(px, px->body, r->body_done);
		if (pt_buf_size(px->body) == 0) {
			px->body_sent = 1;
			continue;
		}
		if (!px->body_streamed && r->body_done) {
			/* the whole body fits in this buffer: a retry can send it again */
			px->body_whole = 1;
			px->body_whole_pos = px->body->pos;
		}
		px->body_streamed = 1;
		px->body->next = NULL;
		px->req_out = px->body;
	}
}

static void
proxy_upstream_write(struct pt_conn *uc)
{
	struct proxy_ctx *px = uc->data;

	if (px == NULL)
		return;
	if (px->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(uc->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0) {
			proxy_fail(px, 502, "connect() failed", err);
			return;
		}
		if (!uc->writable && uc->ssl == NULL)
			return;
		if (px->conf->ssl) {
			/* https upstream: the handshake is part of connecting */
			int rc;

			if (uc->ssl == NULL && pt_tls_upstream_start(uc, px->r, px->conf->host) != PT_OK) {
				proxy_fail(px, 502, "SSL_new() failed", 0);
				return;
			}
			rc = pt_tls_handshake(uc);
			if (rc == PT_AGAIN)
				return;
			if (rc != PT_OK || pt_tls_upstream_verify(uc, px->r) != PT_OK) {
				proxy_fail(px, 502, "SSL handshake failed", 0);
				return;
			}
		}
		px->connecting = 0;
		px->connect_ms = pt_current_msec - px->start;
	}
	if (px->body_sent)
		return;
	if (px->body == NULL && px->conf->pass_request_body && !px->r->body_done)
		px->body = pt_buf_create(px->r->pool, PT_MAX(px->r->loc->client_body_buffer_size,
		    (size_t)1024) + PROXY_HEADROOM + PROXY_TAILROOM + 5);
	proxy_send_body(px);
}

/* relay an interim 103 response to a client that can take it */
static void
proxy_relay_interim(struct proxy_ctx *px, size_t head_len)
{
	struct pt_request *r = px->r;
	struct pt_http_conn *hc = r->hc;
	struct pt_buf *b;
	char *p;
	int i;

	if (r->version != 11)
		return;
	b = pt_buf_create(r->pool, head_len + 64);
	p = b->last;
	p += sprintf(p, "HTTP/1.1 %d %s\r\n", px->head.status, pt_http_status_text(px->head.status));
	for (i = 0; i < px->head.nfields; i++) {
		struct pt_http_field *f = &px->head.fields[i];

		if (f->hop)
			continue;
		p += sprintf(p, "%.*s: %.*s\r\n", (int)f->name.len, f->name.data, (int)f->value.len,
		    f->value.data);
	}
	*p++ = '\r';
	*p++ = '\n';
	b->last = p;
	if (hc->out == NULL)
		hc->out = b;
	else
		hc->out_tail->next = b;
	hc->out_tail = b;
}

/* the response head is complete in px->in: check it and send ours */
static int
proxy_process_head(struct proxy_ctx *px, size_t head_len)
{
	struct pt_request *r = px->r;
	struct pt_http_limits lim = { px->conf->buffer_size, px->conf->buffer_size, 100 };
	int i, status;

	if (pt_http_parse_response(px->in->pos, head_len, &lim, r->pool, &px->head) != PT_OK)
		return PT_ERROR;
	status = px->head.status;
	if (status >= 100 && status < 200) {
		if (status == 101)
			return PT_ERROR;	/* we never asked for an upgrade */
		if (status == 103)
			proxy_relay_interim(px, head_len);
		px->in->pos += head_len;
		px->scan = 0;
		return PT_AGAIN;		/* read the next head */
	}
	if (proxy_retry_status(px, status))
		return PT_DONE;			/* the next try is under way */
	px->header_done = 1;
	px->header_ms = pt_current_msec - px->start;
	if (!px->u->least_time_last)
		pt_upstream_peer_latency(px->peer, px->header_ms);
	pt_upstream_sticky_header(r, px->u, px->peer);
	r->upstream_head = &px->head;
	{
		char *s = pt_palloc(r->pool, 8);

		proxy_var_append(r, &r->upstream_status,
		    (struct pt_str){ (size_t)(pt_fmt_u64(s, (uint64_t)status) - s), s });
	}
	proxy_var_append(r, &r->upstream_connect_time, proxy_time(r, px->connect_ms));
	proxy_var_append(r, &r->upstream_header_time, proxy_time(r, px->header_ms));

	if (px->conf->intercept_errors && status >= 300 && pt_http_has_error_page(r, status)) {
		/* the error page replaces the answer: its body is not read */
		proxy_var_append(r, &r->upstream_response_time,
		    proxy_time(r, pt_current_msec - px->start));
		proxy_release(px, 0, 0);
		pt_http_finalize(r, status);
		return PT_DONE;
	}
	r->status = status;
	if (px->head.reason.len > 0 && strcmp(pt_http_status_text(status), "Unknown") == 0)
		r->status_line = px->head.reason;
	for (i = 0; i < px->head.nfields; i++) {
		struct pt_http_field *f = &px->head.fields[i];

		if (f->hop || f->id == PT_HF_CONTENT_LENGTH || f->id == PT_HF_DATE ||
		    f->id == PT_HF_SERVER)
			continue;
		pt_http_out_add(r, f->name, f->value);
	}
	pt_proxy_headers_upstream(r, px->conf);
	px->in->pos += head_len;

	/* framing of the upstream body */
	px->upstream_keepalive = px->head.version == 11 && !(px->head.flags & PT_HTTP_CONN_CLOSE);
	if (r->method_id == PT_HTTP_HEAD || status == 204 || status == 304) {
		px->resp_left = 0;
		if (px->head.flags & PT_HTTP_HAS_CL)
			r->out_length = px->head.content_length;
	} else if (px->head.flags & PT_HTTP_CHUNKED) {
		px->resp_chunked = 1;
		px->resp_left = -1;
		if (r->version == 11)
			r->body_prechunked = 1;
		else
			px->dechunk = 1;
	} else if (px->head.flags & PT_HTTP_HAS_CL) {
		px->resp_left = px->head.content_length;
		r->out_length = px->head.content_length;
	} else {
		px->resp_left = -1;		/* until the upstream closes */
		px->upstream_keepalive = 0;
	}
	if (pt_http_send_header(r) != PT_OK)
		return PT_ERROR;
	return PT_OK;
}

/* data in [b->pos, b->last) arrived: account for framing; returns PT_OK or PT_ERROR */
static int
proxy_account(struct proxy_ctx *px, struct pt_buf *b)
{
	if (px->resp_chunked) {
		const char *pos = b->pos, *data;
		char *w = b->pos;
		size_t dlen;
		int rc;

		for (;;) {
			rc = pt_http_parse_chunked(&px->chunked, &pos, b->last, &data, &dlen);
			if (rc == PT_ERROR)
				return PT_ERROR;
			if (rc == PT_OK) {
				if (px->dechunk) {
					memmove(w, data, dlen);
					w += dlen;
				}
				continue;
			}
			if (rc == PT_DONE) {
				px->resp_done = 1;
				if (pos != b->last)
					px->upstream_keepalive = 0;	/* junk after the body */
				if (!px->dechunk)
					b->last = (char *)pos;
			}
			break;
		}
		if (px->dechunk)
			b->last = w;
		return PT_OK;
	}
	if (px->resp_left >= 0) {
		size_t n = pt_buf_size(b);

		if ((int64_t)n > px->resp_left) {
			/* more than Content-Length: drop the excess, never reuse */
			b->last = b->pos + px->resp_left;
			px->upstream_keepalive = 0;
			n = (size_t)px->resp_left;
		}
		px->resp_left -= (int64_t)n;
		if (px->resp_left == 0)
			px->resp_done = 1;
	}
	return PT_OK;
}

/*
 * A body buffer that is not waiting to be written. Buffers come from the
 * worker's recycled I/O blocks on first use and go back when the request
 * ends, so a small response never touches them.
 */
static struct pt_buf *
proxy_free_buf(struct proxy_ctx *px, int i)
{
	struct pt_buf *b = px->bufs[i];

	if (b == NULL) {
		b = pt_iobuf_get(px->r->pool, px->bufsize + PROXY_HEADROOM + PROXY_TAILROOM);
		px->bufs[i] = b;
	} else if (b->pos != b->last) {
		return NULL;	/* still queued for the client */
	}
	b->pos = b->last = b->start + PROXY_HEADROOM;
	b->next = NULL;
	b->last_buf = 0;
	return b;
}

static void
proxy_client_drained(struct pt_request *r)
{
	struct proxy_ctx *px = pt_http_ctx(r, &pt_mod_proxy);

	if (px->resp_done) {
		proxy_finish(px, PT_DONE);
		return;
	}
	if (px->uc != NULL)
		proxy_relay(px);
}

/* the response is complete: release the upstream, finish the client side */
static void
proxy_response_done(struct proxy_ctx *px)
{
	struct pt_request *r = px->r;

	proxy_var_append(r, &r->upstream_response_time, proxy_time(r, pt_current_msec - px->start));
	if (px->u->least_time_last)
		pt_upstream_peer_latency(px->peer, pt_current_msec - px->start);
	proxy_release(px, px->upstream_keepalive && px->body_sent, 0);
	/* a head-only response is still queued: push it out */
	if (pt_http_send(r, NULL) == PT_ERROR) {
		r->close_reason = PT_CLOSE_CLIENT_ERROR;
		pt_http_finalize(r, PT_ERROR);
		return;
	}
	if (pt_http_pending(r) == 0) {
		pt_http_finalize(r, PT_DONE);
		return;
	}
	r->on_drain = proxy_client_drained;
}

/* send <chain> to the client; PT_OK, PT_AGAIN or PT_ERROR (request finished) */
static int
proxy_send_client(struct proxy_ctx *px, struct pt_buf *chain)
{
	struct pt_request *r = px->r;
	int rc = pt_http_send(r, chain);

	if (rc == PT_ERROR) {
		r->close_reason = PT_CLOSE_CLIENT_ERROR;
		proxy_finish(px, PT_ERROR);
	}
	return rc;
}

static void
proxy_rate_wake(struct pt_timer *t)
{
	struct proxy_ctx *px = t->data;

	if (px->uc != NULL && !px->resp_done)
		proxy_relay(px);
}

/*
 * proxy_limit_rate: body bytes that may be read from the upstream now
 * (the clock starts at the first body read; one slice of 1/16 s is
 * allowed ahead), or 0 with <rate_timer> armed to resume.
 */
static int64_t
proxy_rate_allowed(struct proxy_ctx *px)
{
	uint64_t rate = px->conf->limit_rate, slice = PT_MAX(rate / 16, 1);
	int64_t budget;

	if (px->rate_timer.handler == NULL) {
		pt_timer_init(&px->rate_timer, proxy_rate_wake, px);
		px->rate_start = pt_current_msec;
	}
	budget = (int64_t)(rate * (pt_current_msec - px->rate_start) / 1000 + slice) -
	    (int64_t)px->rate_read;
	if (budget > 0)
		return budget;
	/* not waiting for the upstream meanwhile: no read timeout */
	pt_timer_del(&px->uc->timer);
	pt_timer_set(&px->rate_timer, (pt_msec_t)((slice - (uint64_t)budget) * 1000 / rate) + 1);
	return 0;
}

/*
 * Move body bytes from the upstream to the client while buffers allow:
 * one readv(2) fills every free buffer, one writev(2) sends them.
 */
static void
proxy_relay(struct proxy_ctx *px)
{
	struct pt_request *r = px->r;
	struct pt_conn *uc = px->uc;
	struct iovec iov[64];
	struct pt_buf *fill[64], *chain, **tail;
	ssize_t n;
	int cnt, i;

	/* body bytes that came with the head are sent from the head buffer */
	if (px->in != NULL && pt_buf_size(px->in) > 0) {
		struct pt_buf *b = pt_buf_wrap(r->pool, px->in->pos, pt_buf_size(px->in));

		px->rate_read += pt_buf_size(px->in);
		px->in->pos = px->in->last;
		if (proxy_account(px, b) != PT_OK) {
			proxy_fail(px, 502, "upstream sent invalid chunked response", 0);
			return;
		}
		b->last_buf = px->resp_done;
		if (proxy_send_client(px, b) == PT_ERROR)
			return;
	}
	while (!px->resp_done) {
		int64_t room = px->resp_left > 0 ? px->resp_left : INT64_MAX;

		if (px->conf->limit_rate > 0) {
			int64_t allow = proxy_rate_allowed(px);

			if (allow == 0)
				return;
			room = PT_MIN(room, allow);
		}
		cnt = 0;
		for (i = 0; i < px->nbufs && cnt < (int)PT_NELEM(iov) && room > 0; i++) {
			struct pt_buf *b = proxy_free_buf(px, i);
			size_t len;

			if (b == NULL)
				continue;
			len = (size_t)PT_MIN((int64_t)(b->end - b->last - PROXY_TAILROOM), room);
			iov[cnt].iov_base = b->last;
			iov[cnt].iov_len = len;
			fill[cnt++] = b;
			room -= (int64_t)len;
		}
		if (cnt == 0) {
			/* every buffer is queued for the client: wait for it */
			r->on_drain = proxy_client_drained;
			return;
		}
		if (!uc->readable) {
			pt_timer_set(&uc->timer, px->conf->read_timeout);
			return;
		}
		n = pt_conn_readv(uc, iov, cnt);
		if (n == PT_AGAIN)
			continue;
		if (n <= 0) {
			if (n == 0 && px->resp_left < 0 && !px->resp_chunked) {
				/* a close-delimited body ends here */
				struct pt_buf *b = pt_buf_wrap(r->pool, "", 0);

				px->resp_done = 1;
				px->upstream_keepalive = 0;
				b->last_buf = 1;
				if (proxy_send_client(px, b) == PT_ERROR)
					return;
				break;
			}
			proxy_fail(px, 502, n == 0 ? "upstream prematurely closed connection" :
			    "readv() failed", n == 0 ? 0 : errno);
			return;
		}
		px->rate_read += (uint64_t)n;
		chain = NULL;
		tail = &chain;
		for (i = 0; i < cnt && n > 0; i++) {
			size_t take = PT_MIN((size_t)n, iov[i].iov_len);

			fill[i]->last += take;
			n -= (ssize_t)take;
			if (proxy_account(px, fill[i]) != PT_OK) {
				proxy_fail(px, 502, "upstream sent invalid chunked response", 0);
				return;
			}
			*tail = fill[i];
			tail = &fill[i]->next;
			if (px->resp_done) {
				fill[i]->last_buf = 1;
				break;
			}
		}
		if (proxy_send_client(px, chain) == PT_ERROR)
			return;
	}
	if (px->resp_done && px->uc != NULL)
		proxy_response_done(px);
}

static void
proxy_upstream_read(struct pt_conn *uc)
{
	struct proxy_ctx *px = uc->data;
	struct pt_request *r;
	ssize_t n;
	int rc;

	if (px == NULL)
		return;
	r = px->r;
	if (px->connecting) {
		proxy_upstream_write(uc);
		if (px->uc != uc || px->connecting)
			return;
	}
	if (px->header_done) {
		proxy_relay(px);
		return;
	}
	if (px->in == NULL)
		px->in = pt_iobuf_get(r->pool, px->conf->buffer_size);
	for (;;) {
		if (pt_buf_free(px->in) == 0) {
			if (px->in->pos != px->in->start) {
				size_t have = pt_buf_size(px->in);

				memmove(px->in->start, px->in->pos, have);
				px->in->pos = px->in->start;
				px->in->last = px->in->start + have;
			} else {
				proxy_fail_ft(px, PROXY_FT_INVALID_HEADER, 502, "upstream sent too big header", 0);
				return;
			}
		}
		n = pt_conn_recv(uc, px->in);
		if (n == PT_AGAIN) {
			pt_timer_set(&uc->timer, px->conf->read_timeout);
			return;
		}
		if (n == 0 || n == PT_ERROR) {
			proxy_fail(px, 502, n == 0 ? "upstream prematurely closed connection" :
			    "recv() failed", n == 0 ? 0 : errno);
			return;
		}
		px->got_bytes = 1;
		/* not even a status line (HTTP/0.9 or garbage): no need to wait */
		if (pt_buf_size(px->in) > 0 && px->scan == 0 &&
		    memcmp(px->in->pos, "HTTP/", PT_MIN(pt_buf_size(px->in), 5)) != 0) {
			proxy_fail_ft(px, PROXY_FT_INVALID_HEADER, 502, "upstream sent no valid HTTP/1.x status line", 0);
			return;
		}
		for (;;) {
			struct pt_http_limits lim = { px->conf->buffer_size, px->conf->buffer_size, 100 };
			ssize_t hl = pt_http_find_head_end(px->in->pos, pt_buf_size(px->in), &px->scan,
			    &lim, 0);

			if (hl == PT_AGAIN)
				break;
			if (hl < 0) {
				proxy_fail_ft(px, PROXY_FT_INVALID_HEADER, 502, "upstream sent invalid header", 0);
				return;
			}
			rc = proxy_process_head(px, (size_t)hl);
			if (rc == PT_AGAIN)
				continue;
			if (rc == PT_DONE)
				return;
			if (rc != PT_OK) {
				proxy_fail_ft(px, PROXY_FT_INVALID_HEADER, 502, "upstream sent invalid header", 0);
				return;
			}
			if (px->resp_left == 0 && !px->resp_chunked) {
				px->resp_done = 1;
				if (pt_buf_size(px->in) > 0)
					px->upstream_keepalive = 0;
				proxy_response_done(px);
				return;
			}
			proxy_relay(px);
			return;
		}
	}
}

int
pt_proxy_handler(struct pt_request *r)
{
	struct proxy_loc *pl = pt_http_loc_conf(r, &pt_mod_proxy);
	struct proxy_ctx *px;
	int nbufs;

	if (pl->url != NULL) {
		/* proxy_pass with variables: <pl> becomes this request's copy */
		int rc = pt_proxy_dynamic_eval(r, &pl);

		if (rc != PT_OK)
			return rc;
	}
	px = pt_pcalloc(r->pool, sizeof(*px));
	px->r = r;
	px->conf = pl;
	px->u = pl->upstream;
	pt_http_set_ctx(r, &pt_mod_proxy, px);
	pt_pool_cleanup_add(r->pool, proxy_cleanup, px);
	r->proxy_host = pl->host;

	nbufs = pl->buffering ? (int)PT_MIN(pl->buffers.num, 64) : 1;
	px->bufsize = pl->buffering ? pl->buffers.size : pl->buffer_size;
	px->nbufs = nbufs;
	px->bufs = pt_pcalloc(r->pool, sizeof(*px->bufs) * (size_t)nbufs);

	if (r->body_chunked && pl->http_version == 0 && pl->pass_request_body) {
		/* HTTP/1.0 has no chunked coding: read the body first */
		r->on_body = proxy_body_ready;
		proxy_body_ready(r);
		return PT_AGAIN;
	}
	if (proxy_create_request(px) != PT_OK)
		return 500;
	proxy_connect(px);
	return PT_AGAIN;
}
