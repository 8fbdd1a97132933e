/*
 * http_body.c: reading a request body for a content handler, with
 * Content-Length or chunked framing, 100-continue and the body limits.
 * Bytes already read with the head are consumed first; the rest is read
 * straight into the caller's buffer when the framing allows it.
 */
#include "portico.h"

int pt_http_flush(struct pt_request *r);

static const char http_continue[] = "HTTP/1.1 100 Continue\r\n\r\n";

void
pt_http_body_wait(struct pt_request *r, pt_http_drain_fn on_ready)
{
	r->on_body = on_ready;
	if (!r->body_done)
		pt_timer_set(&r->c->timer, r->loc->client_body_timeout);
}

/* make sure hc->in exists and has room to read raw bytes */
static struct pt_buf *
http_body_inbuf(struct pt_request *r)
{
	struct pt_http_conn *hc = r->hc;

	if (hc->in == NULL) {
		pt_iobuf_fill(&hc->in_buf, PT_MAX(r->srv->client_header_buffer_size, 4096));
		hc->in = &hc->in_buf;
	}
	if (hc->in->pos == hc->in->last)
		hc->in->pos = hc->in->last = hc->in->start;
	return hc->in;
}

static ssize_t
http_body_read_chunked(struct pt_request *r, struct pt_buf *b)
{
	struct pt_http_conn *hc = r->hc;
	size_t appended = 0, max = r->loc->client_max_body_size;
	ssize_t n;

	for (;;) {
		struct pt_buf *in = http_body_inbuf(r);

		while (in->pos < in->last && pt_buf_free(b) > 0) {
			const char *pos = in->pos, *data;
			/* never decode more data than <b> can take */
			const char *end = in->pos + PT_MIN(pt_buf_size(in), pt_buf_free(b));
			size_t dlen;
			int rc = pt_http_parse_chunked(&r->chunked, &pos, end, &data, &dlen);

			r->request_length += (size_t)(pos - in->pos);
			in->pos = (char *)pos;
			if (rc == PT_ERROR)
				return -400;
			if (rc == PT_OK) {
				pt_buf_append(b, data, dlen);
				appended += dlen;
				r->body_received += dlen;
				if (max > 0 && r->body_received > max)
					return -413;
				continue;
			}
			if (rc == PT_DONE) {
				r->body_done = 1;
				return (ssize_t)appended;
			}
			/* PT_AGAIN: everything up to <end> consumed */
		}
		if (appended > 0 || pt_buf_free(b) == 0)
			return (ssize_t)appended;
		in = http_body_inbuf(r);
		if (pt_buf_free(in) == 0)
			return -400;
		if (!r->c->readable)
			return PT_AGAIN;
		n = pt_conn_recv(r->c, in);
		if (n == PT_AGAIN)
			return PT_AGAIN;
		if (n <= 0)
			return PT_ERROR;
		(void)hc;
	}
}

ssize_t
pt_http_body_read(struct pt_request *r, struct pt_buf *b)
{
	struct pt_http_conn *hc = r->hc;
	size_t want, n;
	ssize_t rc;

	if (r->body_done)
		return 0;
	if ((r->head.flags & PT_HTTP_EXPECT_CONTINUE) && !r->expect_sent && r->version == 11 &&
	    !r->header_sent) {
		struct pt_buf *cb = pt_buf_wrap(r->pool, http_continue, sizeof(http_continue) - 1);

		r->expect_sent = 1;
		if (hc->out == NULL)
			hc->out = cb;
		else
			hc->out_tail->next = cb;
		hc->out_tail = cb;
		if (pt_http_flush(r) == PT_ERROR)
			return PT_ERROR;
	}
	if (r->body_chunked) {
		rc = http_body_read_chunked(r, b);
		if (rc == PT_AGAIN)
			pt_timer_set(&r->c->timer, r->loc->client_body_timeout);
		else if (r->body_done && !r->on_drain)
			pt_timer_del(&r->c->timer);
		return rc;
	}
	want = (size_t)PT_MIN((int64_t)pt_buf_free(b), r->body_left);
	if (want == 0)
		return 0;
	if (hc->in != NULL && pt_buf_size(hc->in) > 0) {
		n = PT_MIN(want, pt_buf_size(hc->in));
		pt_buf_append(b, hc->in->pos, n);
		hc->in->pos += n;
	} else {
		struct pt_buf lim = *b;

		if (!r->c->readable) {
			pt_timer_set(&r->c->timer, r->loc->client_body_timeout);
			return PT_AGAIN;
		}
		/* read at most the rest of the body: what follows is the next request */
		lim.end = lim.last + want;
		rc = pt_conn_recv(r->c, &lim);
		if (rc == PT_AGAIN) {
			pt_timer_set(&r->c->timer, r->loc->client_body_timeout);
			return PT_AGAIN;
		}
		if (rc <= 0)
			return PT_ERROR;
		n = (size_t)rc;
		b->last = lim.last;
	}
	r->body_left -= (int64_t)n;
	r->body_received += n;
	r->request_length += n;
	if (r->body_left == 0) {
		r->body_done = 1;
		pt_timer_del(&r->c->timer);
	}
	return (ssize_t)n;
}
