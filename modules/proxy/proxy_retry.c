/*
 * proxy_retry.c: the proxy_next_upstream family (nginx's meanings) and a
 * retry budget (Envoy's idea, absent from nginx and HAProxy). A module of
 * its own so the directives and their decisions sit in one place; the
 * proxy's failure paths call pt_proxy_next_*() (proxy_retry.h).
 */
#include "proxy_retry.h"

struct proxy_next_loc {
	long		 next;		/* PROXY_FT_* flags of proxy_next_upstream */
	long		 tries;		/* proxy_next_upstream_tries, 0 = no limit */
	pt_msec_t	 timeout;	/* proxy_next_upstream_timeout, 0 = no limit */
	long		 budget;	/* proxy_retry_budget percent, 0 = off */
	long		 budget_min;	/* retries per second always allowed */
};

static const struct {
	const char	*name;
	unsigned	 bit;
} proxy_next_names[] = {
	{ "error", PROXY_FT_ERROR },
	{ "timeout", PROXY_FT_TIMEOUT },
	{ "invalid_header", PROXY_FT_INVALID_HEADER },
	{ "http_500", PROXY_FT_HTTP_500 },
	{ "http_502", PROXY_FT_HTTP_502 },
	{ "http_503", PROXY_FT_HTTP_503 },
	{ "http_504", PROXY_FT_HTTP_504 },
	{ "http_403", PROXY_FT_HTTP_403 },
	{ "http_404", PROXY_FT_HTTP_404 },
	{ "http_429", PROXY_FT_HTTP_429 },
	{ "non_idempotent", PROXY_FT_NON_IDEMPOTENT },
	{ "off", PROXY_FT_OFF },
};

static const char *
proxy_next_set(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct proxy_next_loc *pn = conf;
	const struct pt_conf_node *n = cf->node;
	long mask = 0;
	size_t k;
	int i, found;

	for (i = 0; i < n->nargs; i++) {
		found = 0;
		for (k = 0; k < PT_NELEM(proxy_next_names); k++)
			if (strcmp(n->args[i], proxy_next_names[k].name) == 0) {
				mask |= proxy_next_names[k].bit;
				found = 1;
			}
		if (!found)
			return pt_psprintf(cf->pool, "invalid value \"%s\" in \"%s\" directive",
			    n->args[i], d->name);
	}
	if ((mask & PROXY_FT_OFF) && mask != PROXY_FT_OFF)
		return pt_psprintf(cf->pool, "\"off\" cannot be combined with other values in "
		    "\"%s\" directive", d->name);
	pn->next = mask;
	return NULL;
}

/* proxy_retry_budget PERCENT [min=N] */
static const char *
proxy_budget_set(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct proxy_next_loc *pn = conf;
	const struct pt_conf_node *n = cf->node;
	char *pct = pt_pstrdup(cf->pool, n->args[0]);
	size_t len = strlen(pct);

	if (len > 0 && pct[len - 1] == '%')
		pct[len - 1] = '\0';
	if (pt_parse_int(pct, 0, 100, &pn->budget) != PT_OK)
		return pt_psprintf(cf->pool, "invalid percentage \"%s\" in \"%s\" directive "
		    "(0 to 100)", n->args[0], d->name);
	pn->budget_min = 3;
	if (n->nargs == 2 && (strncmp(n->args[1], "min=", 4) != 0 ||
	    pt_parse_int(n->args[1] + 4, 0, 1000000, &pn->budget_min) != PT_OK))
		return pt_psprintf(cf->pool, "invalid parameter \"%s\" in \"%s\" directive",
		    n->args[1], d->name);
	return NULL;
}

#define PN(f)	offsetof(struct proxy_next_loc, f)

static const struct pt_conf_bounds proxy_tries_bounds = { 0, 1000 };

static const struct pt_directive proxy_next_directives[] = {
	{ "proxy_next_upstream", PT_CTX_HTTP_ANY, 0, 0, 1, PT_D_ARGS_ANY, PT_LEVEL_LOC,
	  PT_NO_OFFSET, proxy_next_set, "error timeout", NULL,
	  "failures that send the request to the next server" },
	{ "proxy_next_upstream_tries", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, PN(tries),
	  pt_conf_set_num, "0", &proxy_tries_bounds,
	  "most tries of one request, 0 = as many as there are servers" },
	{ "proxy_next_upstream_timeout", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, PN(timeout),
	  pt_conf_set_msec, "0", NULL, "no retry after this time from the first try, 0 = no limit" },
	{ "proxy_retry_budget", PT_CTX_HTTP_ANY, 0, 0, 1, 2, PT_LEVEL_LOC, PT_NO_OFFSET,
	  proxy_budget_set, "0", NULL,
	  "retries allowed as a share of requests PERCENT [min=N per second]" },
	PT_DIRECTIVE_END
};

static void
proxy_next_conf_create(struct pt_conf_ctx *cf, enum pt_conf_level level, void *conf)
{
	struct proxy_next_loc *pn = conf;

	(void)cf;
	if (level == PT_LEVEL_LOC) {
		pn->next = PT_UNSET;
		pn->budget = PT_UNSET;
	}
}

static const char *
proxy_next_conf_merge(struct pt_conf_ctx *cf, enum pt_conf_level level, void *parent,
    void *child)
{
	struct proxy_next_loc *p = parent, *c = child;

	(void)cf;
	if (level != PT_LEVEL_LOC)
		return NULL;
	if (c->next == PT_UNSET)
		c->next = p != NULL ? p->next : PROXY_FT_ERROR | PROXY_FT_TIMEOUT;
	if (c->budget == PT_UNSET) {
		c->budget = p != NULL ? p->budget : 0;
		c->budget_min = p != NULL ? p->budget_min : 3;
	}
	return NULL;
}

struct pt_module pt_mod_proxy_next = {
	.name = "proxy_next",
	.directives = proxy_next_directives,
	.conf_size = { [PT_LEVEL_LOC] = sizeof(struct proxy_next_loc) },
	.conf_create = proxy_next_conf_create,
	.conf_merge = proxy_next_conf_merge,
};

/*---- run time ----*/

/*
 * The retry budget's view of the last seconds, per upstream group in the
 * worker: requests and retries in the current 10-second window and the
 * one before (u->budget); the previous window counts for the part of it
 * still inside the last 10 s. Per group, so a sick pool's retries are a
 * share of its own traffic, not of the traffic to healthy ones.
 */
#define BUDGET_WINDOW	10000

static void
proxy_budget_roll(struct pt_upstream *u)
{
	if (pt_current_msec < u->budget.start + BUDGET_WINDOW)
		return;
	if (pt_current_msec < u->budget.start + 2 * BUDGET_WINDOW) {
		u->budget.req[1] = u->budget.req[0];
		u->budget.retry[1] = u->budget.retry[0];
		u->budget.start += BUDGET_WINDOW;
	} else {
		u->budget.req[1] = u->budget.retry[1] = 0;
		u->budget.start = pt_current_msec;
	}
	u->budget.req[0] = u->budget.retry[0] = 0;
}

/* the previous window's share still in the last BUDGET_WINDOW ms */
static uint64_t
proxy_budget_est(const struct pt_upstream *u, const uint64_t *v)
{
	pt_msec_t into = pt_current_msec - u->budget.start;

	return v[0] + v[1] * (BUDGET_WINDOW - PT_MIN(into, BUDGET_WINDOW)) / BUDGET_WINDOW;
}

/* see proxy_retry.h */
void
pt_proxy_next_request(struct pt_request *r, struct pt_upstream *u)
{
	(void)r;
	proxy_budget_roll(u);
	u->budget.req[0]++;
}

static int
proxy_budget_take(const struct proxy_next_loc *pn, struct pt_upstream *u)
{
	uint64_t allowed;

	if (pn->budget == 0)
		return 1;
	proxy_budget_roll(u);
	allowed = proxy_budget_est(u, u->budget.req) * (uint64_t)pn->budget / 100;
	if (allowed < (uint64_t)pn->budget_min * (BUDGET_WINDOW / 1000))
		allowed = (uint64_t)pn->budget_min * (BUDGET_WINDOW / 1000);
	if (proxy_budget_est(u, u->budget.retry) >= allowed)
		return 0;
	u->budget.retry[0]++;
	return 1;
}

/* see proxy_retry.h */
unsigned
pt_proxy_next_status(struct pt_request *r, int status)
{
	const struct proxy_next_loc *pn = pt_http_loc_conf(r, &pt_mod_proxy_next);
	unsigned ft;

	switch (status) {
	case 500: ft = PROXY_FT_HTTP_500; break;
	case 502: ft = PROXY_FT_HTTP_502; break;
	case 503: ft = PROXY_FT_HTTP_503; break;
	case 504: ft = PROXY_FT_HTTP_504; break;
	case 403: ft = PROXY_FT_HTTP_403; break;
	case 404: ft = PROXY_FT_HTTP_404; break;
	case 429: ft = PROXY_FT_HTTP_429; break;
	default: return 0;
	}
	return ((unsigned long)pn->next & ft) ? ft : 0;
}

/* see proxy_retry.h */
int
pt_proxy_next_allowed(struct pt_request *r, unsigned ft, int tries, pt_msec_t first, int sent,
    struct pt_upstream *u)
{
	const struct proxy_next_loc *pn = pt_http_loc_conf(r, &pt_mod_proxy_next);

	if (((unsigned long)pn->next & ft) == 0 || (pn->next & PROXY_FT_OFF))
		return 0;
	if (tries >= u->npeers - u->nabsent || (pn->tries > 0 && tries >= pn->tries))
		return 0;
	if (pn->timeout > 0 && pt_current_msec - first >= pn->timeout)
		return 0;
	if (sent && !(pn->next & PROXY_FT_NON_IDEMPOTENT) && (r->method_id == PT_HTTP_POST
	    || r->method_id == PT_HTTP_PATCH || (r->method.len == 4 &&
	    memcmp(r->method.data, "LOCK", 4) == 0)))
		return 0;
	if (!proxy_budget_take(pn, u)) {
		pt_log(PT_LOG_WARN, 0, "retry budget of %ld%% exhausted, not retrying \"%.*s\"",
		    pn->budget, (int)r->request_line.len, r->request_line.data);
		return 0;
	}
	return 1;
}

/* see proxy_retry.h */
int
pt_proxy_next_counts(struct pt_request *r, unsigned ft)
{
	const struct proxy_next_loc *pn = pt_http_loc_conf(r, &pt_mod_proxy_next);

	if (ft & (PROXY_FT_ERROR | PROXY_FT_TIMEOUT | PROXY_FT_INVALID_HEADER))
		return 1;
	if (ft & (PROXY_FT_HTTP_403 | PROXY_FT_HTTP_404))
		return 0;
	return ((unsigned long)pn->next & ft) != 0;
}
