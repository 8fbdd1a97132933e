/*
 * proxy_dynamic.c: proxy_pass with variables ("http://$backend$uri").
 *
 * Config time, the URL is compiled into a complex value; a proxy_pass
 * without variables never comes here and costs nothing more. Per request
 * the URL is evaluated and parsed as http[s]://HOST[:PORT][/URI]:
 *   - HOST[:PORT] naming a group (an `upstream NAME` block when written
 *     without a port, or the implicit group of a literal proxy_pass
 *     elsewhere) uses that group: a binary search in a table of the
 *     group names sorted once per worker;
 *   - an IPv4 or [IPv6] literal uses a single-server group from a small
 *     per-worker cache keyed by the address (a fixed set of slots reused
 *     least recently used first, so what clients send cannot grow it);
 *   - any other host name would need a resolver: 502, logged;
 *   - a URL that does not parse: 500, logged.
 * nginx's meanings: a URI part, if any, is sent instead of the whole
 * request URI (no location prefix replacement, no args appended); without
 * one the request URI is passed as received; $proxy_host is the host with
 * the port unless it is the scheme's default. Keep-alive applies to named
 * groups that have `keepalive`, never to ad-hoc addresses, as in nginx.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <strings.h>

#include "proxy.h"
#include "../tls/tls.h"

/* one name of the group table */
struct pd_name {
	const char		*name;		/* lower case */
	size_t			 len;
	struct pt_upstream	*u;
};

/* an ad-hoc group of one literal address, with its storage */
struct pd_slot {
	struct pt_upstream	 u;
	struct pt_upstream_peer	 peer;
	struct pt_upstream_state st;
	uint32_t		 hash;
	unsigned		 refs;		/* requests using it now */
	unsigned		 used:1;	/* holds an address (hashed) */
	struct pd_slot		*hnext;		/* bucket chain */
	struct pd_slot		*lru_prev;	/* unused list (refs == 0), oldest first */
	struct pd_slot		*lru_next;
};

#define PD_SLOTS	64		/* ad-hoc groups kept per worker */
#define PD_BUCKETS	128

/* per worker, built by pt_proxy_dynamic_init_worker() */
static struct pd_name	*pd_names;
static size_t		 pd_nnames;
static struct pd_slot	 pd_slots[PD_SLOTS];
static struct pd_slot	*pd_hash[PD_BUCKETS];
static struct pd_slot	*pd_lru_head, *pd_lru_tail;
static int		 pd_nfresh;	/* slots never used yet: pd_slots[pd_nfresh..] */
static int		 pd_resolver;	/* a `resolver` is configured (for upstream servers) */

/*---- config time ----*/

/*
 * proxy_pass URL with variables: compile it. The scheme and the rest are
 * checked per request, since a variable may hold any part of the URL.
 * Returns NULL, or an error text; *dyn is 0 when <url> has no variable
 * after all (a lone "$"), and the static path goes on.
 */
const char *
pt_proxy_dynamic_conf(struct pt_conf_ctx *cf, struct proxy_loc *pl, const char *url, int *dyn)
{
	struct pt_http_loc *loc = cf->loc_conf[pt_mod_http_core.index];
	const char *err = NULL;
	struct pt_cv *cv;

	*dyn = 0;
	cv = pt_cv_compile(cf, url, &err);
	if (cv == NULL)
		return err;
	if (cv->is_const)
		return NULL;
	*dyn = 1;
	pl->url = cv;
	pl->loc_name.data = loc->name;
	pl->loc_name.len = loc->name_len;
	loc->content = pt_proxy_handler;
	return NULL;
}

/*---- the group table (worker start) ----*/

static int
pd_name_cmp(const void *a, const void *b)
{
	const struct pd_name *x = a, *y = b;
	int c = memcmp(x->name, y->name, PT_MIN(x->len, y->len));

	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

int
pt_proxy_dynamic_init_worker(struct pt_cycle *cycle)
{
	struct pt_upstream_main *um;
	struct pt_upstream **ups;
	size_t i, k, n = 0;

	if (cycle->http_conf == NULL || (um = cycle->http_conf[pt_mod_upstream.index]) == NULL)
		return PT_OK;
	ups = um->upstreams.elts;
	pd_names = pt_palloc(cycle->pool, (um->upstreams.nelts + 1) * sizeof(*pd_names));
	for (i = 0; i < um->upstreams.nelts; i++) {
		char *lc;

		/* an implicit group that did not resolve is no group (merge refuses it anyway) */
		if (!ups[i]->defined && ups[i]->npeers == 0)
			continue;
		pd_names[n].len = strlen(ups[i]->name);
		lc = pt_palloc(cycle->pool, pd_names[n].len + 1);
		for (k = 0; k <= pd_names[n].len; k++)
			lc[k] = (char)tolower((unsigned char)ups[i]->name[k]);
		pd_names[n].name = lc;
		pd_names[n].u = ups[i];
		n++;
	}
	qsort(pd_names, n, sizeof(*pd_names), pd_name_cmp);
	pd_nnames = n;
	pd_resolver = um->resolver != NULL;
	return PT_OK;
}

/* the group named <name> (any case), or NULL: a binary search */
static struct pt_upstream *
pd_group(const char *name, size_t len)
{
	size_t lo = 0, hi = pd_nnames;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2, i, n = PT_MIN(len, pd_names[mid].len);
		int c = 0;

		for (i = 0; i < n && c == 0; i++)
			c = tolower((unsigned char)name[i]) - (unsigned char)pd_names[mid].name[i];
		if (c == 0)
			c = len < pd_names[mid].len ? -1 : len > pd_names[mid].len;
		if (c == 0)
			return pd_names[mid].u;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*---- ad-hoc groups of one address ----*/

/*
 * A group of the single server <addr>, with the defaults of an implicit
 * group (pt_upstream_get() and upstream_conf_merge() in
 * modules/upstream/upstream_module.c): round robin, no keep-alive,
 * weight 1, max_fails 1, fail_timeout 10s.
 */
static void
pd_group_init(struct pt_upstream *u, struct pt_upstream_peer *p, struct pt_upstream_state *st,
    const struct pt_sockaddr *addr)
{
	memset(u, 0, sizeof(*u));
	memset(p, 0, sizeof(*p));
	memset(st, 0, sizeof(*st));
	p->addr = *addr;
	p->name = p->addr.text;
	p->weight = 1;
	p->max_fails = 1;
	p->fail_timeout = 10000;
	p->st = st;
	u->name = p->addr.text;
	u->implicit = 1;
	u->peers = p;
	u->npeers = 1;
	u->balancer = &pt_upstream_balancer_wrr;
	u->keepalive = 0;
	u->keepalive_requests = 1000;
	u->keepalive_timeout = 60000;
	u->local_st = st;
}

static uint32_t
pd_addr_hash(const struct pt_sockaddr *a)
{
	const unsigned char *s = (const unsigned char *)&a->sa;
	uint32_t h = 2166136261u;
	socklen_t i;

	for (i = 0; i < a->len; i++) {
		h ^= s[i];
		h *= 16777619u;
	}
	return h;
}

static void
pd_lru_unlink(struct pd_slot *s)
{
	if (s->lru_prev != NULL)
		s->lru_prev->lru_next = s->lru_next;
	else
		pd_lru_head = s->lru_next;
	if (s->lru_next != NULL)
		s->lru_next->lru_prev = s->lru_prev;
	else
		pd_lru_tail = s->lru_prev;
	s->lru_prev = s->lru_next = NULL;
}

static void
pd_unhash(struct pd_slot *s)
{
	struct pd_slot **pp = &pd_hash[s->hash % PD_BUCKETS];

	while (*pp != s)
		pp = &(*pp)->hnext;
	*pp = s->hnext;
	s->hnext = NULL;
	s->used = 0;
}

/* the request is done with slot <data> */
static void
pd_slot_release(void *data)
{
	struct pd_slot *s = data;

	PT_ASSERT(s->refs > 0);
	if (--s->refs > 0)
		return;
	s->lru_prev = pd_lru_tail;
	s->lru_next = NULL;
	if (pd_lru_tail != NULL)
		pd_lru_tail->lru_next = s;
	else
		pd_lru_head = s;
	pd_lru_tail = s;
}

/*
 * The group of address <addr> for <r>: the cached one, a fresh or the
 * least recently used idle slot, or, when every slot is in use by a
 * request, a group in the request's pool.
 */
static struct pt_upstream *
pd_adhoc(struct pt_request *r, const struct pt_sockaddr *addr)
{
	uint32_t h = pd_addr_hash(addr);
	struct pd_slot *s;

	for (s = pd_hash[h % PD_BUCKETS]; s != NULL; s = s->hnext)
		if (s->hash == h && s->peer.addr.len == addr->len &&
		    memcmp(&s->peer.addr.sa, &addr->sa, addr->len) == 0)
			break;
	if (s == NULL) {
		if (pd_nfresh < PD_SLOTS) {
			s = &pd_slots[pd_nfresh++];
		} else if (pd_lru_head != NULL) {
			s = pd_lru_head;
			pd_lru_unlink(s);
			pd_unhash(s);
		} else {
			struct {
				struct pt_upstream u;
				struct pt_upstream_peer p;
				struct pt_upstream_state st;
			} *g = pt_palloc(r->pool, sizeof(*g));

			pd_group_init(&g->u, &g->p, &g->st, addr);
			return &g->u;
		}
		pd_group_init(&s->u, &s->peer, &s->st, addr);
		s->hash = h;
		s->used = 1;
		s->refs = 0;
		s->hnext = pd_hash[h % PD_BUCKETS];
		pd_hash[h % PD_BUCKETS] = s;
	} else if (s->refs == 0) {
		pd_lru_unlink(s);
	}
	s->refs++;
	pt_pool_cleanup_add(r->pool, pd_slot_release, s);
	return &s->u;
}

/*---- per request ----*/

/* an IPv4 or bracketed IPv6 literal <host> with <port> into <out>; PT_OK or PT_DECLINED */
static int
pd_literal(struct pt_str host, int port, struct pt_sockaddr *out)
{
	char buf[64];

	memset(out, 0, sizeof(*out));
	if (host.len >= 2 && host.data[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->sa;

		if (host.len - 2 >= sizeof(buf))
			return PT_DECLINED;
		memcpy(buf, host.data + 1, host.len - 2);
		buf[host.len - 2] = '\0';
		if (inet_pton(AF_INET6, buf, &s6->sin6_addr) != 1)
			return PT_DECLINED;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		out->len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&out->sa;

		if (host.len >= sizeof(buf))
			return PT_DECLINED;
		memcpy(buf, host.data, host.len);
		buf[host.len] = '\0';
		if (inet_pton(AF_INET, buf, &s4->sin_addr) != 1)
			return PT_DECLINED;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		out->len = sizeof(*s4);
	}
	pt_sockaddr_format(out);
	return PT_OK;
}

/*
 * The URI part as sent: "?a" becomes "/?a" (nginx), and bytes that may
 * not appear in a request-target (controls, space, '"', '#', 8-bit) are
 * percent-encoded, so a decoded $uri cannot split the request line.
 */
static struct pt_str
pd_uri(struct pt_request *r, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = pt_palloc(r->pool, 3 * n + 2), *p = out;
	size_t i;

	if (s[0] == '?')
		*p++ = '/';
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '#') {
			*p++ = '%';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 15];
		} else
			*p++ = (char)ch;
	}
	return (struct pt_str){ (size_t)(p - out), out };
}

static int
pd_fail(struct pt_request *r, int status, const char *what, struct pt_str v)
{
	pt_log(PT_LOG_ERR, 0, "%s \"%.*s\" in \"proxy_pass\", client: %s, request: \"%.*s\"",
	    what, (int)PT_MIN(v.len, 512), v.data, r->c->peer.text,
	    (int)r->request_line.len, r->request_line.data);
	return status;
}

/*
 * Evaluate the proxy_pass URL of <*plp> for <r> and replace <*plp> by a
 * copy in the request's pool with the target filled in. Returns PT_OK,
 * or the status to answer with (logged).
 */
int
pt_proxy_dynamic_eval(struct pt_request *r, struct proxy_loc **plp)
{
	struct proxy_loc *pl = *plp, *c;
	struct pt_str v, auth, host;
	struct pt_upstream *u;
	struct pt_sockaddr addr;
	const char *s, *e, *end, *colon = NULL;
	int tls, port, def_port;

	pt_cv_eval(r, pl->url, &v);
	if (v.len >= 7 && strncasecmp(v.data, "http://", 7) == 0)
		tls = 0;
	else if (v.len >= 8 && strncasecmp(v.data, "https://", 8) == 0)
		tls = 1;
	else
		return pd_fail(r, 500, "invalid URL prefix in", v);
	def_port = tls ? 443 : 80;
	s = v.data + (tls ? 8 : 7);
	end = v.data + v.len;
	for (e = s; e < end && *e != '/' && *e != '?'; e++)
		;
	auth = (struct pt_str){ (size_t)(e - s), s };
	if (auth.len == 0)
		return pd_fail(r, 500, "no host in", v);

	/* HOST[:PORT] or [V6][:PORT] */
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', auth.len);

		if (rb == NULL || rb == s + 1 || (rb + 1 < e && rb[1] != ':'))
			return pd_fail(r, 500, "invalid host in", v);
		if (rb + 1 < e)
			colon = rb + 1;
	} else {
		colon = memchr(s, ':', auth.len);
		if (colon != NULL && memchr(colon + 1, ':', (size_t)(e - colon - 1)) != NULL)
			return pd_fail(r, 500, "invalid host in", v);
	}
	host = (struct pt_str){ (size_t)((colon ? colon : e) - s), s };
	port = def_port;
	if (colon != NULL) {
		const char *q;

		port = 0;
		for (q = colon + 1; q < e && *q >= '0' && *q <= '9' && port <= 65535; q++)
			port = port * 10 + (*q - '0');
		if (q != e || q == colon + 1 || port < 1 || port > 65535)
			return pd_fail(r, 500, "invalid port in", v);
	}
	if (host.len == 0)
		return pd_fail(r, 500, "no host in", v);
	if (tls && !pt_tls_upstream_enabled(r))
		return pd_fail(r, 500, "no TLS context for", v);

	/* a group: as written, or without a port under its default port's name */
	u = pd_group(auth.data, auth.len);
	if (u == NULL && colon == NULL) {
		char key[300];
		int n = snprintf(key, sizeof(key), "%.*s:%d", (int)host.len, host.data, def_port);

		if (n > 0 && (size_t)n < sizeof(key))
			u = pd_group(key, (size_t)n);
	}
	if (u == NULL) {
		if (pd_literal(host, port, &addr) != PT_OK) {
			/* `resolver` serves the `resolve` servers of upstream blocks only */
			pt_log(PT_LOG_ERR, 0, "%s \"%.*s\" in \"proxy_pass\", client: %s, "
			    "request: \"%.*s\"", pd_resolver ? "no run-time resolution of "
			    "proxy_pass with variables: cannot resolve" :
			    "no resolver defined to resolve", (int)PT_MIN(host.len, 256), host.data,
			    r->c->peer.text, (int)r->request_line.len, r->request_line.data);
			return 502;
		}
		u = pd_adhoc(r, &addr);
	}

	c = pt_palloc(r->pool, sizeof(*c));
	*c = *pl;
	c->upstream = u;
	c->ssl = tls;
	/* $proxy_host: the port only when it is not the scheme's */
	c->host = port == def_port ? host : auth;
	c->has_uri = c->uri_whole = e < end;
	if (e < end)
		c->uri = pd_uri(r, e, (size_t)(end - e));
	*plp = c;
	return PT_OK;
}
