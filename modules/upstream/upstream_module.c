/*
 * upstream_module.c: the `upstream NAME { ... }` block and its server,
 * keepalive, keepalive_requests and keepalive_timeout directives, and the
 * groups that proxy_pass creates implicitly for "http://host:port". The
 * groups live in the module's http-level conf (struct pt_upstream_main);
 * the run-time side is worker/upstream.c.
 */
#include <limits.h>
#include <strings.h>

#include "portico.h"

static const char *upstream_block(struct pt_conf_ctx *, const struct pt_directive *, void *);
static const char *upstream_server(struct pt_conf_ctx *, const struct pt_directive *, void *);
static const char *upstream_keepalive(struct pt_conf_ctx *, const struct pt_directive *, void *);
static const char *upstream_keepalive_requests(struct pt_conf_ctx *, const struct pt_directive *,
    void *);
static const char *upstream_keepalive_timeout(struct pt_conf_ctx *, const struct pt_directive *,
    void *);
static void upstream_conf_create(struct pt_conf_ctx *, enum pt_conf_level, void *);
static const char *upstream_conf_merge(struct pt_conf_ctx *, enum pt_conf_level, void *, void *);

/* addresses one server name may resolve to */
#define UPSTREAM_MAX_ADDRS	16

static const struct pt_directive upstream_directives[] = {
	{ "upstream", PT_CTX_HTTP, PT_D_BLOCK | PT_D_MULTI, PT_CTX_UPSTREAM, 1, 1, PT_LEVEL_NONE,
	  PT_NO_OFFSET, upstream_block, NULL, NULL,
	  "a named group of servers for proxy_pass http://NAME" },
	{ "server", PT_CTX_UPSTREAM, PT_D_MULTI, 0, 1, PT_D_ARGS_ANY, PT_LEVEL_NONE, PT_NO_OFFSET,
	  upstream_server, NULL, NULL,
	  "a server of the group: ADDRESS[:PORT] [weight=N] [down]" },
	{ "keepalive", PT_CTX_UPSTREAM, 0, 0, 1, 1, PT_LEVEL_NONE, PT_NO_OFFSET,
	  upstream_keepalive, NULL, NULL,
	  "idle connections to the group kept open per worker (none by default)" },
	{ "keepalive_requests", PT_CTX_UPSTREAM, 0, 0, 1, 1, PT_LEVEL_NONE, PT_NO_OFFSET,
	  upstream_keepalive_requests, "1000", NULL,
	  "requests carried by one kept upstream connection" },
	{ "keepalive_timeout", PT_CTX_UPSTREAM, 0, 0, 1, 1, PT_LEVEL_NONE, PT_NO_OFFSET,
	  upstream_keepalive_timeout, "60s", NULL,
	  "idle time before a kept upstream connection is closed" },
	PT_DIRECTIVE_END
};

struct pt_module pt_mod_upstream = {
	.name = "upstream",
	.directives = upstream_directives,
	.conf_size = { [PT_LEVEL_HTTP] = sizeof(struct pt_upstream_main) },
	.conf_create = upstream_conf_create,
	.conf_merge = upstream_conf_merge,
};

static void
upstream_conf_create(struct pt_conf_ctx *cf, enum pt_conf_level level, void *conf)
{
	struct pt_upstream_main *um = conf;

	if (level == PT_LEVEL_HTTP)
		pt_array_init(&um->upstreams, cf->pool, 4, sizeof(struct pt_upstream *));
}

/*
 * Find the group <name> (names compare without case, as host names do)
 * or create it with the defaults. <implicit>: the caller is proxy_pass,
 * which does not know whether <name> is a "host:port" or the name of an
 * upstream block that may come later in the file; the first use is
 * recorded for the error message if it turns out to be neither.
 */
struct pt_upstream *
pt_upstream_get(struct pt_conf_ctx *cf, const char *name, int implicit)
{
	struct pt_upstream_main *um = cf->http_conf[pt_mod_upstream.index];
	struct pt_upstream **ups = um->upstreams.elts, *u;
	size_t i;

	for (i = 0; i < um->upstreams.nelts; i++)
		if (strcasecmp(ups[i]->name, name) == 0)
			return ups[i];

	u = pt_pcalloc(cf->pool, sizeof(*u));
	u->name = pt_pstrdup(cf->pool, name);
	if (cf->node != NULL) {
		u->file = cf->node->file;
		u->line = cf->node->line;
	}
	u->implicit = implicit ? 1 : 0;
	u->balancer = &pt_upstream_balancer_wrr;
	u->keepalive = 0;
	u->keepalive_requests = 1000;
	u->keepalive_timeout = 60000;
	*(struct pt_upstream **)pt_array_push(&um->upstreams) = u;
	return u;
}

/*
 * Add <naddrs> peers for one server line (or an implicit group) to <u>,
 * all with <name>, <weight> and <down>. Returns NULL or an error text.
 */
static const char *
upstream_add_peers(struct pt_conf_ctx *cf, struct pt_upstream *u, const char *name,
    const struct pt_sockaddr *addrs, int naddrs, long weight, int down)
{
	struct pt_upstream_peer *peers, *p;
	int i;

	if (u->npeers + naddrs > PT_UPSTREAM_MAX_PEERS)
		return pt_psprintf(cf->pool, "too many servers in upstream \"%s\" (%d addresses "
		    "at most)", u->name, PT_UPSTREAM_MAX_PEERS);
	peers = pt_pcalloc(cf->pool, (size_t)(u->npeers + naddrs) * sizeof(*peers));
	if (u->npeers > 0)
		memcpy(peers, u->peers, (size_t)u->npeers * sizeof(*peers));
	name = pt_pstrdup(cf->pool, name);
	for (i = 0; i < naddrs; i++) {
		p = &peers[u->npeers + i];
		p->addr = addrs[i];
		p->name = name;
		p->weight = weight;
		p->effective_weight = weight;
		p->current_weight = 0;
		p->down = down ? 1 : 0;
	}
	u->peers = peers;
	u->npeers += naddrs;
	return NULL;
}

/* upstream NAME { ... } */
static const char *
upstream_block(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const struct pt_conf_node *n = cf->node;
	void *saved = cf->block_data;
	struct pt_upstream *u;
	int rc;

	(void)conf;
	if (n->args[0][0] == '\0')
		return pt_psprintf(cf->pool, "empty name in \"%s\" directive", d->name);
	u = pt_upstream_get(cf, n->args[0], 0);
	if (u->defined)
		return pt_psprintf(cf->pool, "duplicate upstream \"%s\" in \"%s\" directive "
		    "(first at %s:%d)", n->args[0], d->name, u->file, u->line);
	u->defined = 1;
	u->file = n->file;
	u->line = n->line;

	cf->block_data = u;
	rc = pt_conf_apply_block(cf, n, PT_CTX_UPSTREAM);
	cf->block_data = saved;
	if (rc != PT_OK)
		return "";	/* logged */
	if (u->npeers == 0)
		return pt_psprintf(cf->pool, "no \"server\" in \"%s\" block \"%s\"", d->name,
		    n->args[0]);
	return NULL;
}

/* length of the name of a "key=value" parameter */
static int
upstream_param_len(const char *a)
{
	const char *eq = strchr(a, '=');

	return eq != NULL ? (int)(eq - a) : (int)strlen(a);
}

/* server ADDRESS [weight=N] [down] */
static const char *
upstream_server(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	static const char *const later[] = {
		"max_fails", "fail_timeout", "backup", "max_conns", "slow_start", NULL
	};
	const struct pt_conf_node *n = cf->node;
	struct pt_upstream *u = cf->block_data;
	struct pt_sockaddr addrs[UPSTREAM_MAX_ADDRS];
	const char *addr = n->args[0], *err = NULL;
	long weight = 1;
	int down = 0, naddrs, i, k, len;

	(void)conf;
	PT_ASSERT(u != NULL);
	for (i = 1; i < n->nargs; i++) {
		const char *a = n->args[i];

		len = upstream_param_len(a);
		if (strncmp(a, "weight=", 7) == 0) {
			if (pt_parse_int(a + 7, 1, 1000, &weight) != PT_OK)
				return pt_psprintf(cf->pool, "invalid weight \"%s\" in \"%s\" directive "
				    "(1 to 1000)", a + 7, d->name);
			continue;
		}
		if (strcmp(a, "down") == 0) {
			down = 1;
			continue;
		}
		for (k = 0; later[k] != NULL; k++)
			if ((int)strlen(later[k]) == len && strncmp(a, later[k], (size_t)len) == 0)
				return pt_psprintf(cf->pool, "\"%s\" parameter of the \"%s\" directive "
				    "is not supported yet", later[k], d->name);
		return pt_psprintf(cf->pool, "invalid parameter \"%s\" in \"%s\" directive", a,
		    d->name);
	}

	if (strstr(addr, "://") != NULL)
		return pt_psprintf(cf->pool, "invalid address \"%s\" in \"%s\" directive: write "
		    "the address without a scheme", addr, d->name);
	if (strncmp(addr, "unix:", 5) == 0)
		return pt_psprintf(cf->pool, "unix socket \"%s\" in \"%s\" directive is not "
		    "supported yet", addr, d->name);
	if (pt_sockaddr_parse(addr, 80, addrs, UPSTREAM_MAX_ADDRS, &naddrs, &err) != PT_OK)
		return pt_psprintf(cf->pool, "host not found in \"%s\" of \"%s\" directive in "
		    "upstream \"%s\": %s", addr, d->name, u->name, err);
	return upstream_add_peers(cf, u, addr, addrs, naddrs, weight, down);
}

static const char *
upstream_keepalive(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_upstream *u = cf->block_data;

	(void)conf;
	if (pt_parse_int(cf->node->args[0], 1, 65535, &u->keepalive) != PT_OK)
		return pt_psprintf(cf->pool, "invalid value \"%s\" in \"%s\" directive "
		    "(1 to 65535)", cf->node->args[0], d->name);
	return NULL;
}

static const char *
upstream_keepalive_requests(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_upstream *u = cf->block_data;

	(void)conf;
	if (pt_parse_int(cf->node->args[0], 1, INT_MAX, &u->keepalive_requests) != PT_OK)
		return pt_psprintf(cf->pool, "invalid value \"%s\" in \"%s\" directive "
		    "(a number from 1)", cf->node->args[0], d->name);
	return NULL;
}

static const char *
upstream_keepalive_timeout(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_upstream *u = cf->block_data;

	(void)conf;
	if (pt_parse_msec(cf->node->args[0], &u->keepalive_timeout) != PT_OK)
		return pt_psprintf(cf->pool, "invalid time \"%s\" in \"%s\" directive",
		    cf->node->args[0], d->name);
	return NULL;
}

/*
 * Runs once, with <parent> NULL, after the whole configuration has been
 * applied: every group used by proxy_pass without an upstream block of
 * that name gets its name resolved as "host[:port]" into its peers.
 */
static const char *
upstream_conf_merge(struct pt_conf_ctx *cf, enum pt_conf_level level, void *parent,
    void *child)
{
	struct pt_upstream_main *um = child;
	struct pt_upstream **ups, *u;
	struct pt_sockaddr addrs[UPSTREAM_MAX_ADDRS];
	const char *err;
	size_t i;
	int naddrs;

	(void)parent;
	if (level != PT_LEVEL_HTTP)
		return NULL;
	ups = um->upstreams.elts;
	for (i = 0; i < um->upstreams.nelts; i++) {
		u = ups[i];
		if (u->defined || !u->implicit || u->npeers > 0)
			continue;
		err = NULL;
		if (strncmp(u->name, "unix:", 5) == 0)
			err = "unix sockets are not supported yet";
		else if (pt_sockaddr_parse(u->name, 80, addrs, UPSTREAM_MAX_ADDRS, &naddrs,
		    &err) == PT_OK)
			err = upstream_add_peers(cf, u, u->name, addrs, naddrs, 1, 0);
		if (err != NULL)
			return pt_psprintf(cf->pool, "host not found in upstream \"%s\" in %s:%d (%s)",
			    u->name, u->file != NULL ? u->file : "?", u->line, err);
	}
	return NULL;
}
