/*
 * health.c: active health checks (`health_check` in an upstream block)
 * and the `match` blocks that say what a healthy answer looks like.
 *
 * One process probes: the worker in slot 0 of the current generation, so
 * a pool is probed once per interval whatever worker_processes is. Each
 * server gets its own timer; a check is a non-blocking HTTP/1.0 GET in
 * the worker's event loop, read to the end (16k at most) and judged by
 * the match block (default: a status from 200 to 399). The result goes
 * into the peer's record in the group's zone (health_check requires a
 * zone), where every worker's balancer reads it.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <strings.h>
#include <unistd.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "upstream_priv.h"

#define HC_MAX_RESPONSE	16384

/* one peer under watch (worker slot 0) */
struct hc_probe {
	struct pt_upstream	*u;
	struct pt_upstream_peer	*p;
	struct pt_sockaddr	 addr;		/* peer address, port= applied */
	char			 checking[64];	/* p->addr.text when the check began */
	struct pt_timer		 timer;		/* next check */
	struct pt_conn		*c;		/* check in progress, or NULL */
	struct pt_buf		*in;		/* response, from c->pool */
	char			*req;		/* request text */
	size_t			 req_len, req_sent;
	unsigned		 connecting:1;
};

static struct hc_probe	*hc_probes;
static int		 hc_nprobes;
static pcre2_match_data	*hc_md;		/* match data of this worker, made once */

/* a pcre2_code freed with the cycle pool */
static void
hc_regex_free(void *data)
{
	pcre2_code_free(data);
}

/* compile <pattern> for a match block; NULL with *err set */
static void *
hc_regex_compile(struct pt_conf_ctx *cf, const char *pattern, const char **err)
{
	PCRE2_UCHAR msg[128];
	PCRE2_SIZE off;
	pcre2_code *re;
	int ec;

	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &ec, &off, NULL);
	if (re == NULL) {
		pcre2_get_error_message(ec, msg, sizeof(msg));
		*err = pt_psprintf(cf->pool, "pcre2_compile() failed: %s in \"%s\" at offset %zu",
		    (char *)msg, pattern, (size_t)off);
		return NULL;
	}
	pt_pool_cleanup_add(cf->pool, hc_regex_free, re);
	return re;
}

/* 1 when <re> matches <s> */
static int
hc_regex_match(void *re, struct pt_str s)
{
	if (hc_md == NULL && (hc_md = pcre2_match_data_create(1, NULL)) == NULL)
		return 0;
	return pcre2_match(re, (PCRE2_SPTR)(s.data ? s.data : ""), s.len, 0, 0, hc_md, NULL) >= 0;
}

/*---- configuration ----*/

/* health_check [interval=T] [fails=N] [passes=N] [uri=U] [port=N] [match=M] [timeout=T] */
const char *
pt_upstream_set_health_check(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const struct pt_conf_node *n = cf->node;
	struct pt_upstream *u = cf->block_data;
	struct pt_upstream_hc *hc;
	int i, timeout_set = 0;

	(void)conf;
	if (u->hc != NULL)
		return pt_psprintf(cf->pool, "\"%s\" directive is duplicate", d->name);
	hc = pt_pcalloc(cf->pool, sizeof(*hc));
	hc->interval = 5000;
	hc->fails = 1;
	hc->passes = 1;
	hc->uri = "/";
	hc->file = n->file;
	hc->line = n->line;
	for (i = 0; i < n->nargs; i++) {
		const char *a = n->args[i], *v = strchr(a, '=');
		int bad = 0;

		if (v == NULL)
			return pt_psprintf(cf->pool, "invalid parameter \"%s\" in \"%s\" directive",
			    a, d->name);
		v++;
		if (strncmp(a, "interval=", 9) == 0)
			bad = pt_parse_msec(v, &hc->interval) != PT_OK || hc->interval == 0;
		else if (strncmp(a, "timeout=", 8) == 0)
			bad = pt_parse_msec(v, &hc->timeout) != PT_OK || hc->timeout == 0,
			    timeout_set = 1;
		else if (strncmp(a, "fails=", 6) == 0)
			bad = pt_parse_int(v, 1, 1000, &hc->fails) != PT_OK;
		else if (strncmp(a, "passes=", 7) == 0)
			bad = pt_parse_int(v, 1, 1000, &hc->passes) != PT_OK;
		else if (strncmp(a, "port=", 5) == 0)
			bad = pt_parse_int(v, 1, 65535, &hc->port) != PT_OK;
		else if (strncmp(a, "uri=", 4) == 0)
			bad = v[0] != '/' || strpbrk(v, " \r\n") != NULL,
			    hc->uri = pt_pstrdup(cf->pool, v);
		else if (strncmp(a, "match=", 6) == 0)
			bad = v[0] == '\0', hc->match_name = pt_pstrdup(cf->pool, v);
		else
			return pt_psprintf(cf->pool, "invalid parameter \"%s\" in \"%s\" directive",
			    a, d->name);
		if (bad)
			return pt_psprintf(cf->pool, "invalid value in \"%s\" of \"%s\" directive",
			    a, d->name);
	}
	if (!timeout_set)
		hc->timeout = hc->interval < 5000 ? hc->interval : 5000;
	u->hc = hc;
	return NULL;
}

/* status [!] CODE|LOW-HIGH ... */
static const char *
hc_match_status(struct pt_conf_ctx *cf, struct upstream_match *m, const struct pt_conf_node *c)
{
	uint64_t set[10];
	long lo, hi;
	int i = 0, k, neg = 0;

	memset(set, 0, sizeof(set));
	if (c->nargs > 0 && strcmp(c->args[0], "!") == 0) {
		neg = 1;
		i = 1;
	}
	if (i >= c->nargs)
		return "no status code";
	for (; i < c->nargs; i++) {
		char *dash = strchr(c->args[i], '-');

		if (dash != NULL) {
			char *low = pt_pstrndup(cf->pool, c->args[i], (size_t)(dash - c->args[i]));

			if (pt_parse_int(low, 100, 599, &lo) != PT_OK ||
			    pt_parse_int(dash + 1, 100, 599, &hi) != PT_OK || hi < lo)
				return pt_psprintf(cf->pool, "invalid status range \"%s\"",
				    c->args[i]);
		} else if (pt_parse_int(c->args[i], 100, 599, &lo) != PT_OK) {
			return pt_psprintf(cf->pool, "invalid status \"%s\"", c->args[i]);
		} else {
			hi = lo;
		}
		for (k = (int)lo; k <= (int)hi; k++)
			set[k / 64] |= (uint64_t)1 << (k % 64);
	}
	if (neg)
		for (k = 100; k < 600; k++)
			set[k / 64] ^= (uint64_t)1 << (k % 64);
	for (k = 0; k < 10; k++)
		m->status[k] |= set[k];
	m->has_status = 1;
	return NULL;
}

/* header NAME [= | != | ~ | !~ VALUE] | header ! NAME */
static const char *
hc_match_header(struct pt_conf_ctx *cf, struct upstream_match *m, const struct pt_conf_node *c)
{
	static const char *const ops[] = { "", "=", "!=", "~", "!~" };
	struct upstream_match_header *h = pt_array_push(&m->headers);
	const char *err = NULL;
	int k;

	if (c->nargs == 2 && strcmp(c->args[0], "!") == 0) {
		h->op = 5;
		h->name.data = pt_pstrdup(cf->pool, c->args[1]);
		h->name.len = strlen(c->args[1]);
		return NULL;
	}
	if (c->nargs != 1 && c->nargs != 3)
		return "write \"header NAME\", \"header ! NAME\" or \"header NAME OP VALUE\"";
	h->name.data = pt_pstrdup(cf->pool, c->args[0]);
	h->name.len = strlen(c->args[0]);
	if (c->nargs == 1)
		return NULL;
	for (k = 1; k < 5; k++)
		if (strcmp(c->args[1], ops[k]) == 0)
			h->op = k;
	if (h->op == 0)
		return pt_psprintf(cf->pool, "invalid operator \"%s\"", c->args[1]);
	if (h->op <= 2) {
		h->value.data = pt_pstrdup(cf->pool, c->args[2]);
		h->value.len = strlen(c->args[2]);
	} else if ((h->re = hc_regex_compile(cf, c->args[2], &err)) == NULL) {
		return err;
	}
	return NULL;
}

/* match NAME { status ...; header ...; body ~|!~ REGEX; } (a raw block) */
const char *
pt_upstream_set_match(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_upstream_main *um = cf->http_conf[pt_mod_upstream.index];
	const struct pt_conf_node *n = cf->node, *c;
	struct upstream_match *m, **mp = um->matches.elts;
	const char *err = NULL;
	size_t i;

	(void)conf;
	for (i = 0; i < um->matches.nelts; i++)
		if (strcmp(mp[i]->name, n->args[0]) == 0)
			return pt_psprintf(cf->pool, "duplicate \"%s\" block \"%s\" (first at %s:%d)",
			    d->name, n->args[0], mp[i]->file, mp[i]->line);
	m = pt_pcalloc(cf->pool, sizeof(*m));
	m->name = pt_pstrdup(cf->pool, n->args[0]);
	m->file = n->file;
	m->line = n->line;
	pt_array_init(&m->headers, cf->pool, 2, sizeof(struct upstream_match_header));
	for (c = n->children; c != NULL; c = c->next) {
		if (strcmp(c->name, "status") == 0) {
			err = hc_match_status(cf, m, c);
		} else if (strcmp(c->name, "header") == 0) {
			err = hc_match_header(cf, m, c);
		} else if (strcmp(c->name, "body") == 0) {
			if (c->nargs != 2 || (strcmp(c->args[0], "~") != 0 &&
			    strcmp(c->args[0], "!~") != 0))
				err = "write \"body ~ REGEX\" or \"body !~ REGEX\"";
			else if (m->body != NULL)
				err = "more than one body test";
			else {
				m->body_neg = c->args[0][0] == '!';
				m->body = hc_regex_compile(cf, c->args[1], &err);
				if (m->body == NULL)
					return pt_psprintf(cf->pool, "%s at %s:%d", err, c->file,
					    c->line);
			}
		} else {
			err = pt_psprintf(cf->pool, "unknown test \"%s\" (status, header or body)",
			    c->name);
		}
		if (err != NULL)
			return pt_psprintf(cf->pool, "%s at %s:%d in \"%s\" block \"%s\"", err,
			    c->file, c->line, d->name, m->name);
	}
	*(struct upstream_match **)pt_array_push(&um->matches) = m;
	return NULL;
}

/* see upstream_priv.h */
const char *
pt_upstream_hc_merge(struct pt_conf_ctx *cf, struct pt_upstream_main *um)
{
	struct pt_upstream **ups = um->upstreams.elts;
	struct upstream_match **mp = um->matches.elts;
	size_t i, k;

	for (i = 0; i < um->upstreams.nelts; i++) {
		struct pt_upstream_hc *hc = ups[i]->hc;

		if (hc == NULL || hc->match_name == NULL)
			continue;
		for (k = 0; k < um->matches.nelts; k++)
			if (strcmp(mp[k]->name, hc->match_name) == 0)
				hc->match = mp[k];
		if (hc->match == NULL)
			return pt_psprintf(cf->pool, "no \"match\" block \"%s\" for the "
			    "\"health_check\" at %s:%d", hc->match_name, hc->file, hc->line);
	}
	return NULL;
}

/*---- run time ----*/

static void hc_start(struct pt_timer *t);

/* does the response in [data, data+len) pass <m> (NULL: status 200-399) */
static int
hc_judge(struct pt_pool *pool, const struct upstream_match *m, const char *data, size_t len,
    int *status)
{
	struct pt_http_limits lim = { HC_MAX_RESPONSE, HC_MAX_RESPONSE, 100 };
	struct pt_http_head head;
	const char *end = NULL;
	struct pt_str body;
	size_t i;
	int k;

	*status = -1;
	for (i = 0; i + 4 <= len; i++)
		if (memcmp(data + i, "\r\n\r\n", 4) == 0) {
			end = data + i;
			break;
		}
	if (end == NULL)
		return 0;
	memset(&head, 0, sizeof(head));
	if (pt_http_parse_response(data, (size_t)(end - data) + 4, &lim, pool, &head) != PT_OK)
		return 0;
	*status = head.status;
	body.data = end + 4;
	body.len = len - (size_t)(end + 4 - data);
	if (m == NULL || !m->has_status) {
		if (m == NULL && (head.status < 200 || head.status > 399))
			return 0;
	} else if (!(m->status[head.status / 64] & ((uint64_t)1 << (head.status % 64)))) {
		return 0;
	}
	if (m == NULL)
		return 1;
	for (i = 0; i < m->headers.nelts; i++) {
		const struct upstream_match_header *h =
		    (const struct upstream_match_header *)m->headers.elts + i;
		const struct pt_http_field *f = NULL;
		int ok;

		for (k = 0; k < head.nfields; k++)
			if (head.fields[k].name.len == h->name.len &&
			    strncasecmp(head.fields[k].name.data, h->name.data, h->name.len) == 0) {
				f = &head.fields[k];
				break;
			}
		switch (h->op) {
		case 0: ok = f != NULL; break;
		case 5: ok = f == NULL; break;
		case 1:
		case 2:
			ok = f != NULL && f->value.len == h->value.len &&
			    memcmp(f->value.data, h->value.data, h->value.len) == 0;
			if (h->op == 2)
				ok = f != NULL && !ok;
			break;
		default:
			ok = f != NULL && hc_regex_match(h->re, f->value);
			if (h->op == 4)
				ok = f != NULL && !ok;
			break;
		}
		if (!ok)
			return 0;
	}
	if (m->body != NULL) {
		int hit = hc_regex_match(m->body, body);

		if (hit == (int)m->body_neg)
			return 0;
	}
	return 1;
}

/* the check of <pr> is over: record <ok> in the zone, schedule the next */
static void
hc_done(struct hc_probe *pr, int ok, int status, const char *why)
{
	struct pt_upstream_hc *hc = pr->u->hc;
	struct pt_upstream_state *st = pr->p->st;
	struct pt_shm *shm = pr->u->zone->shm;
	int went_down = 0, went_up = 0;

	if (pr->c != NULL) {
		pt_conn_close(pr->c, ok ? PT_CLOSE_DONE : PT_CLOSE_UPSTREAM_ERROR);
		pr->c = NULL;
	}
	if (pr->p->absent || strcmp(pr->checking, pr->p->addr.text) != 0) {
		/* `resolve` moved the slot meanwhile: the result is of no one */
		if (!pt_worker.exiting)
			pt_timer_set(&pr->timer, hc->interval);
		return;
	}
	pt_shm_lock(shm);
	st->hc_status = status;
	st->hc_checked = pt_current_msec;
	if (ok) {
		st->hc_fails = 0;
		st->hc_passes++;
		if (st->hc_down && st->hc_passes >= (uint32_t)hc->passes) {
			st->hc_down = 0;
			st->recovered = pt_current_msec;
			/* passive failures from before the outage are forgotten */
			st->fails = 0;
			st->unavail_until = 0;
			went_up = 1;
		}
	} else {
		st->hc_passes = 0;
		st->hc_fails++;
		if (!st->hc_down && st->hc_fails >= (uint32_t)hc->fails) {
			st->hc_down = 1;
			st->ejections++;
			went_down = 1;
		}
	}
	pt_shm_unlock(shm);
	if (went_down)
		pt_log(PT_LOG_WARN, 0, "upstream server \"%s\" of \"%s\" is down: health check "
		    "failed (%s)", pr->p->addr.text, pr->u->name, why);
	if (went_up)
		pt_log(PT_LOG_NOTICE, 0, "upstream server \"%s\" of \"%s\" is up: health check "
		    "passed", pr->p->addr.text, pr->u->name);
	if (!pt_worker.exiting)
		pt_timer_set(&pr->timer, hc->interval);
}

static void
hc_timeout(struct pt_timer *t)
{
	struct hc_probe *pr = ((struct pt_conn *)t->data)->data;

	hc_done(pr, 0, -1, "timed out");
}

static void
hc_read(struct pt_conn *c)
{
	struct hc_probe *pr = c->data;
	char statusbuf[32];
	ssize_t n;
	int ok, status;

	if (pr == NULL || pr->connecting)
		return;
	for (;;) {
		if (pt_buf_free(pr->in) == 0)
			break;			/* enough to judge */
		n = pt_conn_recv(c, pr->in);
		if (n == PT_AGAIN)
			return;
		if (n == PT_ERROR) {
			hc_done(pr, 0, -1, "recv() failed");
			return;
		}
		if (n == 0)
			break;
	}
	ok = hc_judge(c->pool, pr->u->hc->match, pr->in->pos, pt_buf_size(pr->in), &status);
	snprintf(statusbuf, sizeof(statusbuf), status > 0 ? "status %d" : "invalid response",
	    status);
	hc_done(pr, ok, status, statusbuf);
}

static void
hc_write(struct pt_conn *c)
{
	struct hc_probe *pr = c->data;
	ssize_t n;

	if (pr == NULL)
		return;
	if (pr->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0) {
			hc_done(pr, 0, -1, "connect() failed");
			return;
		}
		if (!c->writable)
			return;
		pr->connecting = 0;
	}
	while (pr->req_sent < pr->req_len) {
		n = send(c->io.fd, pr->req + pr->req_sent, pr->req_len - pr->req_sent,
		    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->writable = 0;
				return;
			}
			if (errno == EINTR)
				continue;
			hc_done(pr, 0, -1, "send() failed");
			return;
		}
		pr->req_sent += (size_t)n;
	}
	if (c->readable)
		hc_read(c);
}

/* the address to probe: the peer's now (`resolve` may change it), port= applied */
static void
hc_probe_addr(struct hc_probe *pr)
{
	pr->addr = pr->p->addr;
	snprintf(pr->checking, sizeof(pr->checking), "%s", pr->p->addr.text);
	if (pr->u->hc->port != 0) {
		if (pr->addr.sa.ss_family == AF_INET)
			((struct sockaddr_in *)&pr->addr.sa)->sin_port =
			    htons((uint16_t)pr->u->hc->port);
		else
			((struct sockaddr_in6 *)&pr->addr.sa)->sin6_port =
			    htons((uint16_t)pr->u->hc->port);
		pt_sockaddr_format(&pr->addr);
	}
}

/* timer: open the connection of the next check */
static void
hc_start(struct pt_timer *t)
{
	struct hc_probe *pr = t->data;
	struct pt_conn *c;
	int fd, one = 1;

	if (pt_worker.exiting || pr->c != NULL)
		return;
	if (pr->u->resolve != NULL)
		pt_upstream_resolve_sync(pr->u);
	if (pr->p->absent) {
		pt_timer_set(&pr->timer, pr->u->hc->interval);	/* a `resolve` slot, empty */
		return;
	}
	hc_probe_addr(pr);
	fd = socket(pr->addr.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		pt_log(PT_LOG_ALERT, errno, "socket() failed for a health check");
		pt_timer_set(&pr->timer, pr->u->hc->interval);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&pr->addr.sa, pr->addr.len) == -1 &&
	    errno != EINPROGRESS) {
		close(fd);
		hc_done(pr, 0, -1, "connect() failed");
		return;
	}
	c = pt_conn_new(fd, &pr->addr);
	if (c == NULL) {
		close(fd);
		pt_timer_set(&pr->timer, pr->u->hc->interval);
		return;
	}
	c->upstream = 1;
	c->data = pr;
	c->on_read = hc_read;
	c->on_write = hc_write;
	c->timer.handler = hc_timeout;
	c->timer.data = c;
	pt_timer_set(&c->timer, pr->u->hc->timeout);
	pr->c = c;
	pr->in = pt_buf_create(c->pool, HC_MAX_RESPONSE);
	pr->req_sent = 0;
	pr->connecting = 1;
	if (c->writable)
		hc_write(c);
}

/* see upstream_priv.h */
int
pt_upstream_hc_init_worker(struct pt_cycle *cycle)
{
	struct pt_upstream_main *um;
	struct pt_upstream **ups;
	size_t i;
	int j, n = 0;

	if (pt_heritage.slot != 0 || cycle->http_conf == NULL)
		return PT_OK;
	um = cycle->http_conf[pt_mod_upstream.index];
	if (um == NULL)
		return PT_OK;
	ups = um->upstreams.elts;
	for (i = 0; i < um->upstreams.nelts; i++)
		if (ups[i]->hc != NULL && ups[i]->zone != NULL)
			n += ups[i]->npeers;
	if (n == 0)
		return PT_OK;
	hc_probes = pt_pcalloc(cycle->pool, (size_t)n * sizeof(*hc_probes));
	for (i = 0; i < um->upstreams.nelts; i++) {
		struct pt_upstream *u = ups[i];

		if (u->hc == NULL || u->zone == NULL)
			continue;
		for (j = 0; j < u->npeers; j++) {
			struct hc_probe *pr = &hc_probes[hc_nprobes++];
			const char *host = u->peers[j].name;

			pr->u = u;
			pr->p = &u->peers[j];
			pr->req = pt_psprintf(cycle->pool, "GET %s HTTP/1.0\r\nHost: %s\r\n"
			    "User-Agent: portico health check\r\nConnection: close\r\n\r\n",
			    u->hc->uri, host);
			pr->req_len = strlen(pr->req);
			pt_timer_init(&pr->timer, hc_start, pr);
			/* spread the first checks over a tenth of the interval */
			pt_timer_set(&pr->timer, 1 + (pt_msec_t)j * (u->hc->interval / 10) /
			    (pt_msec_t)u->npeers);
		}
	}
	return PT_OK;
}

/* see upstream_priv.h: stop probing (graceful exit of worker 0) */
void
pt_upstream_hc_exit_worker(struct pt_cycle *cycle)
{
	int i;

	(void)cycle;
	for (i = 0; i < hc_nprobes; i++) {
		pt_timer_del(&hc_probes[i].timer);
		if (hc_probes[i].c != NULL) {
			hc_probes[i].c->data = NULL;
			pt_conn_close(hc_probes[i].c, PT_CLOSE_SHUTDOWN);
			hc_probes[i].c = NULL;
		}
	}
	hc_nprobes = 0;
}
