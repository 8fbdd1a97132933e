/*
 * http.c: the client side of HTTP/1.x: reading heads, creating requests,
 * the phase runner, finalisation, error responses and keep-alive.
 */
#include <sys/socket.h>
#include <unistd.h>

#include "portico.h"

const char *const pt_phase_names[] = {
#define PT_PHASE(n)	#n,
#include "tbl/phases.h"
#undef PT_PHASE
};

static void http_read_head(struct pt_conn *c);
static void http_conn_write(struct pt_conn *c);
static void http_request_end(struct pt_request *r);
static void http_process_next(struct pt_posted *p);
static void http_abort(struct pt_request *r, enum pt_close_reason why);

const char *
pt_http_status_text(int status)
{
	switch (status) {
#define PT_STATUS(code, text)	case code: return text;
#include "tbl/http_status.h"
#undef PT_STATUS
	}
	return "Unknown";
}

static struct pt_http_srv *
http_default_srv(struct pt_http_conn *hc)
{
	return hc->addr_servers->default_server;
}

static void
http_close(struct pt_http_conn *hc, enum pt_close_reason why)
{
	if (hc->in != NULL) {
		pt_iobuf_put(hc->in);
		hc->in = NULL;
	}
	pt_post_cancel(&hc->next_request);
	pt_conn_close(hc->c, why);
}

static void
http_timeout(struct pt_timer *t)
{
	struct pt_conn *c = t->data;
	struct pt_http_conn *hc = c->data;

	if (hc->r != NULL) {
		struct pt_request *r = hc->r;

		/* a body read or a client write timed out during a request */
		r->close_reason = PT_CLOSE_CLIENT_TIMEOUT;
		pt_log(PT_LOG_INFO, 0, "client timed out on %s", c->peer.text);
		if (!r->header_sent && r->on_body != NULL) {
			r->on_body = NULL;
			pt_http_finalize(r, 408);
			return;
		}
		http_abort(r, PT_CLOSE_CLIENT_TIMEOUT);
		return;
	}
	http_close(hc, c->idle ? PT_CLOSE_KEEPALIVE_TIMEOUT : PT_CLOSE_CLIENT_TIMEOUT);
}

void
pt_http_init_conn(struct pt_conn *c)
{
	struct pt_http_conn *hc = pt_pcalloc(c->pool, sizeof(*hc));

	hc->c = c;
	hc->addr_servers = pt_http_addr_servers(c);
	hc->next_request.handler = http_process_next;
	hc->next_request.data = hc;
	c->data = hc;
	c->on_read = http_read_head;
	c->on_write = http_conn_write;
	c->timer.handler = http_timeout;
	pt_timer_set(&c->timer, http_default_srv(hc)->client_header_timeout);
}

/* answer a request we could not parse, then close */
static void
http_reject(struct pt_http_conn *hc, int status)
{
	struct pt_request *r = hc->r;

	if (r == NULL) {
		/* no request object yet: a minimal one for the response and the log */
		struct pt_pool *pool = pt_pool_create(1024);

		r = pt_pcalloc(pool, sizeof(*r));
		r->magic = PT_REQUEST_MAGIC;
		r->pool = pool;
		r->c = hc->c;
		r->hc = hc;
		r->srv = http_default_srv(hc);
		r->loc = r->srv->root_loc;
		r->loc_conf = r->srv->loc_conf;
		r->ctx = pt_pcalloc(pool, sizeof(void *) * (size_t)pt_nmodules);
		r->version = 11;
		r->start_msec = pt_current_msec;
		r->out_length = -1;
		pt_array_init(&r->out_fields, pool, 4, sizeof(struct pt_http_out_field));
		hc->r = r;
		hc->nrequests++;
	}
	r->keepalive = 0;
	r->close_reason = PT_CLOSE_BAD_REQUEST;
	pt_http_finalize(r, status);
}

/* parse the head in hc->in and start the request */
static void
http_process_request(struct pt_http_conn *hc, size_t head_len)
{
	struct pt_conn *c = hc->c;
	struct pt_http_srv *srv = http_default_srv(hc);
	struct pt_http_limits lim;
	struct pt_request *r;
	struct pt_pool *pool;
	struct pt_str authority = PT_NULL_STR;
	int rc;

	pool = pt_pool_create(PT_POOL_BLOCK - 256);
	r = pt_pcalloc(pool, sizeof(*r));
	r->magic = PT_REQUEST_MAGIC;
	r->pool = pool;
	r->c = c;
	r->hc = hc;
	r->srv = srv;
	r->loc = srv->root_loc;
	r->loc_conf = srv->loc_conf;
	r->ctx = pt_pcalloc(pool, sizeof(void *) * (size_t)pt_nmodules);
	r->start_msec = pt_current_msec;
	r->out_length = -1;
	r->version = 11;
	pt_array_init(&r->out_fields, pool, 8, sizeof(struct pt_http_out_field));
	hc->r = r;
	hc->nrequests++;
	hc->scan = 0;
	pt_conn_set_idle(c, 0);

	/* the head is copied so hc->in can take body and pipelined bytes */
	r->head_data = pt_pstrndup(pool, hc->in->pos, head_len);
	hc->in->pos += head_len;
	r->request_length = head_len;

	lim.line_max = srv->large_buffers.size;
	lim.head_max = (size_t)srv->large_buffers.num * srv->large_buffers.size;
	lim.fields_max = (int)srv->max_fields;
	/* $request is the first line as received, also for a rejected request */
	{
		const char *p = r->head_data, *e = p + head_len, *lf;

		while (p < e && (*p == '\r' || *p == '\n'))
			p++;
		lf = memchr(p, '\n', (size_t)(e - p));
		r->request_line.data = p;
		r->request_line.len = lf ? (size_t)(lf - p) : 0;
		if (r->request_line.len > 0 && p[r->request_line.len - 1] == '\r')
			r->request_line.len--;
	}
	rc = pt_http_parse_request(r->head_data, head_len, &lim, pool, &r->head);
	if (rc != PT_OK) {
		http_reject(hc, -rc);
		return;
	}
	r->method = r->head.method;
	r->method_id = r->head.method_id;
	r->version = r->head.version;
	r->unparsed_uri = r->head.target;
	if (pt_http_parse_target(pool, r->head.target, &r->uri, &r->args, &authority) != PT_OK) {
		http_reject(hc, 400);
		return;
	}
	if (r->head.idx[PT_HF_HOST] >= 0) {
		if (pt_http_parse_host(pool, r->head.fields[r->head.idx[PT_HF_HOST]].value,
		    &r->host) != PT_OK) {
			http_reject(hc, 400);
			return;
		}
	}
	if (authority.len > 0 && pt_http_parse_host(pool, authority, &r->host) != PT_OK) {
		http_reject(hc, 400);
		return;
	}
	if (r->method_id == PT_HTTP_CONNECT) {
		http_reject(hc, 405);
		return;
	}

	r->srv = srv = pt_http_find_server(hc->addr_servers, r->host);
	r->loc = srv->root_loc;
	r->loc_conf = srv->loc_conf;
	if (srv->regex_names.nelts > 0 && r->host.len > 0)
		pt_http_server_captures(r);
	if (r->host.len == 0 && srv->names.nelts > 0) {
		const char *n = ((char **)srv->names.elts)[0];

		r->host.data = n;
		r->host.len = strlen(n);
	}

	if (r->version == 11)
		r->keepalive = !(r->head.flags & PT_HTTP_CONN_CLOSE);
	else
		r->keepalive = (r->head.flags & PT_HTTP_CONN_KEEPALIVE) != 0;
	r->header_only = r->method_id == PT_HTTP_HEAD;

	if (r->head.flags & PT_HTTP_CHUNKED) {
		r->body_chunked = 1;
		r->body_left = -1;
	} else if (r->head.content_length > 0) {
		r->body_left = r->head.content_length;
	} else {
		r->body_done = 1;
	}

	pt_timer_del(&c->timer);
	r->phase = PT_PHASE_POST_READ;
	pt_http_run_phases(r);
}

/* grow hc->in so a head of up to <max> bytes fits */
static int
http_grow_in(struct pt_http_conn *hc, size_t max)
{
	struct pt_buf old = hc->in_buf;
	size_t have = pt_buf_size(&old);

	if ((size_t)(old.end - old.start) >= max)
		return PT_ERROR;
	pt_iobuf_fill(&hc->in_buf, max);
	memcpy(hc->in_buf.last, old.pos, have);
	hc->in_buf.last += have;
	pt_iobuf_put(&old);
	return PT_OK;
}

/* try to find and process a complete head in hc->in; returns 1 if started */
static int
http_try_head(struct pt_http_conn *hc)
{
	struct pt_http_srv *srv = http_default_srv(hc);
	struct pt_http_limits lim;
	ssize_t n;

	lim.line_max = srv->large_buffers.size;
	lim.head_max = (size_t)srv->large_buffers.num * srv->large_buffers.size;
	lim.fields_max = (int)srv->max_fields;
	if (pt_buf_size(hc->in) == 0)
		return 0;
	n = pt_http_find_head_end(hc->in->pos, pt_buf_size(hc->in), &hc->scan, &lim, 1);
	if (n > 0) {
		http_process_request(hc, (size_t)n);
		return 1;
	}
	if (n != PT_AGAIN) {
		http_reject(hc, (int)-n);
		return 1;
	}
	if (pt_buf_free(hc->in) == 0) {
		/* move what we have to the front, or to a larger buffer */
		if (hc->in->pos != hc->in->start) {
			size_t have = pt_buf_size(hc->in);

			memmove(hc->in->start, hc->in->pos, have);
			hc->in->pos = hc->in->start;
			hc->in->last = hc->in->start + have;
		} else if (http_grow_in(hc, lim.head_max + 1) != PT_OK) {
			http_reject(hc, 431);
			return 1;
		}
	}
	return 0;
}

/*
 * The client hung up while its request is being served (no body being
 * read): if the socket is at EOF, stop working for nobody, as nginx does
 * (status 499 in the log). Pipelined bytes are left alone.
 */
static void
http_check_abort(struct pt_request *r)
{
	char byte;
	ssize_t n = recv(r->c->io.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		r->c->eof = 1;
		if (!r->header_sent)
			r->status = 499;
		http_abort(r, PT_CLOSE_CLIENT_EOF);
	}
}

static void
http_read_head(struct pt_conn *c)
{
	struct pt_http_conn *hc = c->data;
	struct pt_http_srv *srv;
	ssize_t n;

	if (hc->r != NULL) {
		/* a request is running: only its body reader consumes input */
		if (hc->r->on_body != NULL)
			hc->r->on_body(hc->r);
		else if (c->hup)
			http_check_abort(hc->r);
		return;
	}
	srv = http_default_srv(hc);
	while (c->readable) {
		if (hc->in == NULL) {
			pt_iobuf_fill(&hc->in_buf, srv->client_header_buffer_size);
			hc->in = &hc->in_buf;
		}
		if (pt_buf_free(hc->in) == 0 && http_try_head(hc))
			return;
		n = pt_conn_recv(c, hc->in);
		if (n == PT_AGAIN)
			break;
		if (n == 0 || n == PT_ERROR) {
			http_close(hc, n == 0 ? PT_CLOSE_CLIENT_EOF : PT_CLOSE_CLIENT_ERROR);
			return;
		}
		if (c->idle) {
			pt_conn_set_idle(c, 0);
			pt_timer_set(&c->timer, srv->client_header_timeout);
		}
		if (http_try_head(hc))
			return;
	}
	if (hc->in != NULL && pt_buf_size(hc->in) == 0 && c->idle) {
		/* spurious wakeup on an idle connection: give the memory back */
		pt_iobuf_put(hc->in);
		hc->in = NULL;
	}
}

static void
http_process_next(struct pt_posted *p)
{
	struct pt_http_conn *hc = p->data;

	if (hc->r != NULL)
		return;
	if (hc->in != NULL && pt_buf_size(hc->in) > 0 && http_try_head(hc))
		return;
	if (hc->c->readable)
		http_read_head(hc->c);
}

/*
 * limit_rate: how many bytes of r's response may be written now. The
 * first limit_rate_after bytes (head included, as in nginx) go at full
 * speed; from then on the budget grows by limit_rate per second, plus one
 * slice (1/16 s worth) so a write is never smaller than that. 0 means
 * "wait": *wait is set to the time until a slice is allowed.
 */
static size_t
http_rate_allowed(struct pt_request *r, pt_msec_t *wait)
{
	size_t sent = r->c->sent - r->rate_base;
	size_t slice = PT_MAX(r->limit_rate / 16, 1);
	int64_t budget;

	if (sent < r->limit_rate_after)
		return r->limit_rate_after - sent;
	if (!r->rate_started) {
		r->rate_started = 1;
		r->rate_start = pt_current_msec;
		r->rate_sent0 = sent;
	}
	budget = (int64_t)((uint64_t)r->limit_rate * (pt_current_msec - r->rate_start) / 1000) +
	    (int64_t)slice - (int64_t)(sent - r->rate_sent0);
	if (budget > 0)
		return (size_t)budget;
	*wait = (pt_msec_t)((uint64_t)(slice - (size_t)budget) * 1000 / r->limit_rate) + 1;
	return 0;
}

/*
 * Write hc->out, at most what r's limit_rate allows (whatever the kind
 * of the buffers: the one crossing the allowance is cut short for the
 * write, then restored). PT_OK, PT_AGAIN (socket full), PT_ERROR, or
 * PT_DECLINED: output is left and r->rate_timer will resume the writer.
 */
static void http_rate_wake(struct pt_timer *t);

static int
http_send_out(struct pt_http_conn *hc, struct pt_request *r)
{
	struct pt_buf *b, *cut, *rest;
	pt_msec_t wait = 0;
	size_t allow, acc, keep = 0;
	int64_t saved_file_last = 0;
	char *saved_last = NULL;
	int rc;

	if (r == NULL || r->limit_rate == 0)
		return pt_conn_send_chain(hc->c, &hc->out);
	if (r->rate_timer.handler == NULL) {
		/* the first write of the limited response */
		pt_timer_init(&r->rate_timer, http_rate_wake, r);
		r->rate_base = r->c->sent;
	}
	while (hc->out != NULL) {
		allow = http_rate_allowed(r, &wait);
		if (allow == 0) {
			pt_timer_set(&r->rate_timer, wait);
			return PT_DECLINED;
		}
		cut = NULL;
		acc = 0;
		for (b = hc->out; b != NULL; b = b->next) {
			if (acc + pt_buf_left(b) > allow) {
				cut = b;
				keep = allow - acc;
				break;
			}
			acc += pt_buf_left(b);
		}
		if (cut == NULL)
			return pt_conn_send_chain(hc->c, &hc->out);
		rest = cut->next;
		cut->next = NULL;
		/* the end pointers are absolute: the write moves only pos */
		if (cut->in_file) {
			saved_file_last = cut->file_last;
			cut->file_last = cut->file_pos + (int64_t)keep;
		} else {
			saved_last = cut->last;
			cut->last = cut->pos + keep;
		}
		rc = pt_conn_send_chain(hc->c, &hc->out);
		if (cut->in_file)
			cut->file_last = saved_file_last;
		else
			cut->last = saved_last;
		cut->next = rest;
		if (hc->out == NULL)
			hc->out = cut;
		if (rc != PT_OK)
			return rc;
	}
	return PT_OK;
}

static void
http_rate_wake(struct pt_timer *t)
{
	struct pt_request *r = t->data;

	http_conn_write(r->c);
}

/*
 * The client is gone (write error, timeout, hang-up) while <r> is being
 * served. A request already finalized (its response was draining) ends
 * here; pt_http_finalize() would ignore it.
 */
static void
http_abort(struct pt_request *r, enum pt_close_reason why)
{
	r->close_reason = why;
	if (!r->done) {
		pt_http_finalize(r, PT_ERROR);
		return;
	}
	r->response_incomplete = 1;
	r->keepalive = 0;
	r->hc->out = NULL;
	http_request_end(r);
}

/* flush queued output; resume whoever waits for it */
static void
http_conn_write(struct pt_conn *c)
{
	struct pt_http_conn *hc = c->data;
	struct pt_request *r = hc->r;
	int rc;

	if (hc->out == NULL)
		return;
	rc = http_send_out(hc, r);
	if (rc == PT_ERROR) {
		if (r != NULL)
			http_abort(r, PT_CLOSE_CLIENT_ERROR);
		else
			http_close(hc, PT_CLOSE_CLIENT_ERROR);
		return;
	}
	if (rc == PT_DECLINED) {
		/* limit_rate: r->rate_timer resumes; no send_timeout meanwhile */
		if (r->on_body == NULL)
			pt_timer_del(&c->timer);
		return;
	}
	if (rc == PT_AGAIN) {
		if (r != NULL)
			pt_timer_set(&c->timer, r->loc->send_timeout);
		return;
	}
	hc->out_tail = NULL;
	if (r == NULL)
		return;
	pt_timer_del(&c->timer);
	if (r->done) {
		http_request_end(r);
		return;
	}
	if (r->on_drain != NULL)
		r->on_drain(r);
}

/* flush after queueing; PT_OK, PT_AGAIN or PT_ERROR */
int pt_http_flush(struct pt_request *r);
int
pt_http_flush(struct pt_request *r)
{
	struct pt_http_conn *hc = r->hc;
	int rc;

	if (hc->out == NULL)
		return PT_OK;
	if (!r->c->writable) {
		pt_timer_set(&r->c->timer, r->loc->send_timeout);
		return PT_AGAIN;
	}
	rc = http_send_out(hc, r);
	if (rc == PT_DECLINED) {
		/* limit_rate: r->rate_timer resumes the writer */
		if (!r->on_body)
			pt_timer_del(&r->c->timer);
		return PT_AGAIN;
	}
	if (rc == PT_OK) {
		hc->out_tail = NULL;
		if (!r->on_body)
			pt_timer_del(&r->c->timer);
	} else if (rc == PT_AGAIN)
		pt_timer_set(&r->c->timer, r->loc->send_timeout);
	return rc;
}

void
pt_http_run_phases(struct pt_request *r)
{
	struct pt_cycle *cycle = pt_worker.cycle;
	int rc;

	while (r->phase < PT_PHASE_LOG && !r->done) {
		struct pt_array *a = &cycle->phases[r->phase];

		if (r->phase == PT_PHASE_FIND_LOCATION) {
			struct pt_http_loc *l = r->named_loc != NULL ? r->named_loc :
			    pt_http_find_loc(r);

			r->named_loc = NULL;
			/* no location matches: the server level serves (nginx) */
			if (l == NULL)
				l = r->srv->root_loc;
			if (l->internal && r->internal_redirects == 0) {
				pt_http_finalize(r, 404);
				return;
			}
			r->loc = l;
			r->loc_conf = l->loc_conf;
			if (r->loc->client_max_body_size > 0 && r->head.content_length >
			    (int64_t)r->loc->client_max_body_size) {
				r->keepalive = 0;
				pt_http_finalize(r, 413);
				return;
			}
			r->phase++;
			r->phase_handler = 0;
			continue;
		}
		if (r->phase == PT_PHASE_CONTENT) {
			pt_phase_fn content = r->loc->content != NULL ? r->loc->content :
			    ((struct pt_http_main *)cycle->http)->default_content;

			rc = content != NULL ? content(r) : 404;
			if (rc == PT_AGAIN || rc == PT_DONE)
				return;
			pt_http_finalize(r, rc == PT_DECLINED ? 404 : rc);
			return;
		}
		if ((size_t)r->phase_handler >= a->nelts) {
			r->phase++;
			r->phase_handler = 0;
			continue;
		}
		rc = ((struct pt_phase_handler *)a->elts)[r->phase_handler].handler(r);
		if (rc == PT_OK || rc == PT_DECLINED) {
			r->phase_handler++;
			continue;
		}
		if (rc == PT_AGAIN || rc == PT_DONE)
			return;
		pt_http_finalize(r, rc);
		return;
	}
}

int
pt_http_internal_redirect(struct pt_request *r, struct pt_str uri)
{
	if (++r->internal_redirects > 10) {
		pt_log(PT_LOG_ERR, 0, "rewrite or internal redirection cycle while processing \"%.*s\"",
		    (int)r->uri.len, r->uri.data);
		return 500;
	}
	if (uri.len > 0 && uri.data[0] == '@') {
		/* a named location: URI and arguments are kept */
		r->named_loc = pt_http_find_named(r->srv, uri);
		if (r->named_loc == NULL) {
			pt_log(PT_LOG_ERR, 0, "could not find named location \"%.*s\"",
			    (int)uri.len, uri.data);
			return 500;
		}
	} else {
		/* "/uri?args" (error_page, try_files, index) sets the arguments too */
		const char *q = memchr(uri.data, '?', uri.len);

		r->args = PT_NULL_STR;
		if (q != NULL) {
			r->args.data = q + 1;
			r->args.len = uri.len - (size_t)(q + 1 - uri.data);
			uri.len = (size_t)(q - uri.data);
		}
		r->uri = uri;
	}
	r->loc = r->srv->root_loc;
	r->loc_conf = r->srv->loc_conf;
	memset(r->ctx, 0, sizeof(void *) * (size_t)pt_nmodules);
	r->phase = PT_PHASE_FIND_LOCATION;
	r->phase_handler = 0;
	r->on_drain = NULL;
	r->on_body = NULL;
	pt_http_run_phases(r);
	return PT_DONE;
}

int
pt_http_has_error_page(struct pt_request *r, int status)
{
	struct pt_array *eps = r->loc->error_pages;
	size_t i;

	for (i = 0; eps != NULL && i < eps->nelts; i++)
		if (((struct pt_http_error_page *)eps->elts)[i].status == status)
			return 1;
	return 0;
}

static const char http_error_tail[] =
    "<hr><center>portico</center>\r\n</body>\r\n</html>\r\n";

/* generate the response for an error status (error_page first) */
static void
http_error_response(struct pt_request *r, int status)
{
	struct pt_array *eps = r->loc->error_pages;
	struct pt_str body;
	size_t i;

	if (eps != NULL && r->internal_redirects < 10 && status != 400 && status != 414 &&
	    status != 431) {
		for (i = 0; i < eps->nelts; i++) {
			struct pt_http_error_page *ep = (struct pt_http_error_page *)eps->elts + i;

			if (ep->status != status)
				continue;
			/* the original status is sent unless "=" or "=CODE" says otherwise */
			r->err_status = ep->overwrite == 0 ? status : ep->overwrite > 0 ?
			    ep->overwrite : 0;
			r->status = 0;
			r->out_fields.nelts = 0;
			r->out_length = -1;
			if (r->method_id != PT_HTTP_HEAD) {
				r->method_id = PT_HTTP_GET;
				r->method = PT_STR("GET");
			}
			r->body_done = 1;
			pt_http_internal_redirect(r, (struct pt_str){ strlen(ep->uri), ep->uri });
			return;
		}
	}
	body.data = pt_psprintf(r->pool, "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
	    "<center><h1>%d %s</h1></center>\r\n%s", status, pt_http_status_text(status), status,
	    pt_http_status_text(status), http_error_tail);
	body.len = strlen(body.data);
	if (status == 400 || status == 413 || status == 414 || status == 431 || status == 408 ||
	    status == 505 || status == 501 || !r->body_done)
		r->keepalive = 0;
	if (pt_http_send_simple(r, status, PT_STR("text/html"), body) != PT_OK)
		r->keepalive = 0;
}

void
pt_http_finalize(struct pt_request *r, int rc)
{
	struct pt_http_conn *hc = r->hc;

	PT_CHECK_OBJ(r, PT_REQUEST_MAGIC);
	if (r->done)
		return;
	if (rc >= 300 && !r->header_sent) {
		http_error_response(r, rc);
		if (r->done || hc->r != r)
			return;
		if (r->header_sent)
			rc = PT_DONE;
	}
	if (rc == PT_ERROR || (rc >= 300 && r->header_sent && !r->done)) {
		/* the client must not take a cut response for a complete one */
		r->response_incomplete = 1;
		r->keepalive = 0;
		hc->out = NULL;
	}
	r->done = 1;
	r->on_body = NULL;
	r->on_drain = NULL;
	if (hc->out != NULL && !r->response_incomplete)
		return;		/* http_conn_write ends it once drained */
	http_request_end(r);
}

/* run log handlers, then keep the connection alive or close it */
static void
http_request_end(struct pt_request *r)
{
	struct pt_http_conn *hc = r->hc;
	struct pt_conn *c = r->c;
	struct pt_array *logs = &pt_worker.cycle->phases[PT_PHASE_LOG];
	int keep;
	size_t i;

	if (!r->logged) {
		r->logged = 1;
		if (r->close_reason == PT_CLOSE_NONE && !r->keepalive)
			r->close_reason = PT_CLOSE_DONE;
		for (i = 0; i < logs->nelts; i++)
			((struct pt_phase_handler *)logs->elts)[i].handler(r);
	}
	keep = r->keepalive && !r->response_incomplete && r->body_done && !pt_worker.exiting &&
	    !c->eof && !c->error;
	if (keep && hc->nrequests >= (unsigned)r->loc->keepalive_requests)
		keep = 0;
	{
		struct pt_http_loc *loc = r->loc;
		enum pt_close_reason why = r->close_reason;

		hc->r = NULL;
		if (r->rate_timer.handler != NULL)
			pt_timer_del(&r->rate_timer);
		pt_pool_destroy(r->pool);
		if (!keep) {
			http_close(hc, why == PT_CLOSE_NONE ? PT_CLOSE_DONE : why);
			return;
		}
		/* keep-alive: pipelined bytes stay in hc->in, else free the buffer */
		if (hc->in != NULL && pt_buf_size(hc->in) == 0) {
			pt_iobuf_put(hc->in);
			hc->in = NULL;
		}
		if (hc->in == NULL) {
			/* idle until the next request (a read may already be due) */
			pt_conn_set_idle(c, 1);
			pt_timer_set(&c->timer, loc->keepalive_timeout);
			if (c->readable)
				pt_post(&hc->next_request);
			return;
		}
		pt_timer_set(&c->timer, http_default_srv(hc)->client_header_timeout);
		pt_post(&hc->next_request);
	}
}
