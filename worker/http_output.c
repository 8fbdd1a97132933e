/*
 * http_output.c: response heads, body output with optional chunked
 * coding, and the queue of bytes waiting for the client socket.
 */
#include "portico.h"

int pt_http_flush(struct pt_request *r);

void
pt_http_out_add(struct pt_request *r, struct pt_str name, struct pt_str value)
{
	struct pt_http_out_field *f = pt_array_push(&r->out_fields);

	f->name = name;
	f->value = value;
}

int
pt_http_filter_add(struct pt_cycle *cycle, int priority, pt_http_header_filter_fn fn)
{
	struct pt_http_main *hm = cycle->http;
	void **e;
	size_t i;

	if (hm == NULL)
		return PT_OK;
	for (i = 0; i < hm->header_filters.nelts; i++) {
		void **o = (void **)hm->header_filters.elts + 2 * i;

		if ((intptr_t)o[0] == priority) {
			pt_log(PT_LOG_EMERG, 0, "two header filters with priority %d", priority);
			return PT_ERROR;
		}
	}
	e = pt_array_push(&hm->header_filters);
	e[0] = (void *)(intptr_t)priority;
	e[1] = (void *)fn;
	/* keep sorted by priority: insertion sort on the tail */
	for (i = hm->header_filters.nelts - 1; i > 0; i--) {
		void **a = (void **)hm->header_filters.elts + 2 * (i - 1), **b = a + 2, *t0, *t1;

		if ((intptr_t)a[0] <= (intptr_t)b[0])
			break;
		t0 = a[0]; t1 = a[1];
		a[0] = b[0]; a[1] = b[1];
		b[0] = t0; b[1] = t1;
	}
	return PT_OK;
}

static void
http_queue(struct pt_request *r, struct pt_buf *chain)
{
	struct pt_http_conn *hc = r->hc;
	struct pt_buf *b;

	if (chain == NULL)
		return;
	if (hc->out == NULL)
		hc->out = chain;
	else
		hc->out_tail->next = chain;
	for (b = chain; b->next != NULL; b = b->next)
		;
	hc->out_tail = b;
}

size_t
pt_http_pending(struct pt_request *r)
{
	struct pt_buf *b;
	size_t n = 0;

	for (b = r->hc->out; b != NULL; b = b->next)
		n += pt_buf_left(b);
	return n;
}

static int
http_status_has_body(int status)
{
	return !(status < 200 || status == 204 || status == 304);
}

int
pt_http_send_header(struct pt_request *r)
{
	struct pt_http_main *hm = pt_worker.cycle->http;
	struct pt_http_out_field *f;
	struct pt_buf *b;
	size_t len, i;
	char *p;
	int status;

	PT_ASSERT(!r->header_sent);
	if (r->err_status)
		r->status = r->err_status;
	status = r->status ? r->status : 200;
	for (i = 0; i < hm->header_filters.nelts; i++) {
		pt_http_header_filter_fn fn =
		    (pt_http_header_filter_fn)((void **)hm->header_filters.elts)[2 * i + 1];
		int rc = fn(r);

		if (rc != PT_OK)
			return PT_ERROR;
	}
	r->header_sent = 1;
	r->status = status;
	if (pt_worker.exiting || r->loc->keepalive_timeout == 0 ||
	    r->hc->nrequests >= (unsigned)r->loc->keepalive_requests)
		r->keepalive = 0;
	if (!http_status_has_body(status)) {
		r->header_only = 1;
		r->out_length = -1;
	} else if (r->body_prechunked) {
		r->out_length = -1;
	} else if (r->out_length < 0 && !r->header_only) {
		if (r->version == 11)
			r->chunked_out = 1;
		else
			r->keepalive = 0;	/* close-delimited for HTTP/1.0 */
	}

	len = sizeof("HTTP/1.1 999 \r\n") + 64 + r->status_line.len;
	len += sizeof("Server: portico/" PACKAGE_VERSION "\r\n") + sizeof("Date: \r\n") + 32;
	len += sizeof("Content-Type: \r\n") + r->content_type.len;
	len += sizeof("Content-Length: \r\n") + 20 + sizeof("Transfer-Encoding: chunked\r\n");
	len += sizeof("Connection: keep-alive\r\n") + 2;
	for (i = 0; i < r->out_fields.nelts; i++) {
		f = (struct pt_http_out_field *)r->out_fields.elts + i;
		len += f->name.len + f->value.len + 4;
	}
	b = pt_buf_create(r->pool, len);
	p = pt_cpylit(b->last, "HTTP/1.1 ");
	p = pt_fmt_u64(p, (uint64_t)status);
	*p++ = ' ';
	if (r->status_line.len > 0) {
		p = pt_cpymem(p, r->status_line.data, r->status_line.len);
	} else {
		const char *text = pt_http_status_text(status);

		p = pt_cpymem(p, text, strlen(text));
	}
	p = r->loc->server_tokens ? pt_cpylit(p, "\r\nServer: portico/" PACKAGE_VERSION "\r\nDate: ") :
	    pt_cpylit(p, "\r\nServer: portico\r\nDate: ");
	p = pt_cpymem(p, pt_time_http, sizeof(pt_time_http) - 1);
	p = pt_cpylit(p, "\r\n");
	if (r->content_type.len > 0) {
		p = pt_cpylit(p, "Content-Type: ");
		p = pt_cpymem(p, r->content_type.data, r->content_type.len);
		p = pt_cpylit(p, "\r\n");
	}
	if (r->out_length >= 0 && http_status_has_body(status)) {
		p = pt_cpylit(p, "Content-Length: ");
		p = pt_fmt_u64(p, (uint64_t)r->out_length);
		p = pt_cpylit(p, "\r\n");
	}
	if (r->chunked_out || (r->body_prechunked && http_status_has_body(status)))
		p = pt_cpylit(p, "Transfer-Encoding: chunked\r\n");
	if (!r->keepalive)
		p = pt_cpylit(p, "Connection: close\r\n");
	else if (r->version == 10)
		p = pt_cpylit(p, "Connection: keep-alive\r\n");
	for (i = 0; i < r->out_fields.nelts; i++) {
		f = (struct pt_http_out_field *)r->out_fields.elts + i;
		if (f->name.len == 0)
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
	*p++ = '\r';
	*p++ = '\n';
	b->last = p;
	r->header_bytes = pt_buf_size(b);
	http_queue(r, b);
	return PT_OK;
}

/* room reserved in front of / after a buffer for chunk framing */
#define HTTP_CHUNK_HEAD	18	/* 16 hex digits + CRLF */

int
pt_http_send(struct pt_request *r, struct pt_buf *chain)
{
	struct pt_buf *b, *next, *out = NULL, **tail = &out;
	int last = 0, rc;

	for (b = chain; b != NULL; b = next) {
		size_t n = pt_buf_left(b);

		next = b->next;
		b->next = NULL;
		if (b->last_buf)
			last = 1;
		if (r->header_only) {
			b->pos = b->last;
			b->file_pos = b->file_last;
			continue;
		}
		r->body_bytes_sent += n;
		if (n == 0)
			continue;
		if (r->chunked_out) {
			char hex[HTTP_CHUNK_HEAD + 1];
			int hl = snprintf(hex, sizeof(hex), "%zx\r\n", n);

			if (!b->in_file && b->pos - b->start >= hl && b->end - b->last >= 2) {
				/* framing written in place around the data */
				b->pos -= hl;
				memcpy(b->pos, hex, (size_t)hl);
				b->last[0] = '\r';
				b->last[1] = '\n';
				b->last += 2;
			} else {
				struct pt_buf *h = pt_buf_create(r->pool, (size_t)hl);
				struct pt_buf *t = pt_buf_wrap(r->pool, "\r\n", 2);

				pt_buf_append(h, hex, (size_t)hl);
				*tail = h;
				tail = &h->next;
				*tail = b;
				tail = &b->next;
				*tail = t;
				tail = &t->next;
				continue;
			}
		}
		*tail = b;
		tail = &b->next;
	}
	if (last && r->chunked_out && !r->header_only) {
		*tail = pt_buf_wrap(r->pool, "0\r\n\r\n", 5);
		tail = &(*tail)->next;
	}
	http_queue(r, out);
	rc = pt_http_flush(r);
	return rc;
}

int
pt_http_send_simple(struct pt_request *r, int status, struct pt_str ctype, struct pt_str body)
{
	struct pt_buf *b;

	r->status = status;
	r->content_type = ctype;
	r->out_length = (int64_t)body.len;
	if (pt_http_send_header(r) != PT_OK)
		return PT_ERROR;
	b = pt_buf_wrap(r->pool, body.data, body.len);
	b->last_buf = 1;
	return pt_http_send(r, b) == PT_ERROR ? PT_ERROR : PT_OK;
}
