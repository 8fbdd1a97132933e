/*
 * limit_req_module.c: request rate limiting with nginx's leaky bucket.
 *
 * limit_req_zone declares a shared-memory zone keyed by a complex value;
 * each key has an "excess" in thousandths of a request that drains at
 * the zone's rate. A request adds one; above burst it is rejected, above
 * the delay threshold it is parked on a timer until the excess beyond
 * the threshold has drained (never blocking the worker). Several
 * limit_req may apply to one location: all are checked, the longest
 * delay wins, a rejection undoes the accounts of the rules before it.
 * A zone may be backed by Redis (limit_redis.c) so several hosts share
 * one rate. Runs in the ACCESS phase at priority 200, after allow/deny.
 * A request is checked once: its state (r->limit_req_ctx) survives an
 * internal redirect, so an error_page location does not count it again
 * and still sends the RateLimit fields, as nginx does.
 */
#include "portico.h"
#include "limit_req.h"

/* $limit_req_status values */
enum lr_status {
	LR_NONE = 0,
	LR_PASSED,
	LR_DELAYED,
	LR_REJECTED,
	LR_DELAYED_DRY_RUN,
	LR_REJECTED_DRY_RUN,
};
static const char *const lr_status_names[] = {
	"", "PASSED", "DELAYED", "REJECTED", "DELAYED_DRY_RUN", "REJECTED_DRY_RUN"
};

/* one limit_req in a location */
struct lr_rule {
	struct lr_zone		*zone;		/* zone=NAME */
	long			 burst;		/* burst=N (requests) */
	long			 delay;		/* delay=N; nodelay = burst */
	int			 nodelay;	/* nodelay written */
};

struct lr_http {
	struct pt_array		 zones;		/* struct lr_zone *, declared or referenced */
};

struct lr_loc {
	struct pt_array		*rules;		/* struct lr_rule, inherited when NULL */
	long			 status;	/* limit_req_status */
	int			 log_level;	/* limit_req_log_level (index) */
	int			 dry_run;	/* limit_req_dry_run */
	int			 headers;	/* limit_req_headers */
};

/* per request */
struct lr_ctx {
	struct pt_request	*r;		/* the request */
	struct lr_loc		*conf;		/* location conf checked */
	struct pt_timer		 timer;		/* delay */
	enum lr_status		 status;	/* $limit_req_status */
	unsigned		 idx;		/* next rule to check */
	unsigned		 done:1;	/* every rule checked (or rejected) */
	unsigned		 have_result:1;	/* <res> holds the answer for rule <idx> */
	unsigned		 waiting:1;	/* parked on Redis or the delay timer */
	struct lr_result	 res;		/* answer for rule <idx> */
	struct lr_redis_op	*op;		/* pending Redis check */
	struct pt_str		*keys;		/* evaluated key per rule (rollback) */
	pt_msec_t		 delay;		/* longest delay wanted */
	/* the most restrictive rule, for the RateLimit fields */
	struct lr_zone		*hzone;
	long			 remaining;	/* requests that would pass now */
	pt_msec_t		 reset;		/* ms until the bucket is empty */
	pt_msec_t		 retry;		/* ms until one more passes (rejected) */
};

static const char *const lr_level_names[] = { "info", "notice", "warn", "error", NULL };
static const enum pt_log_level lr_levels[] = { PT_LOG_INFO, PT_LOG_NOTICE, PT_LOG_WARN,
	PT_LOG_ERR };
static const char *const lr_fail_names[] = { "local", "open", "closed", NULL };

static const struct pt_conf_bounds lr_status_bounds = { 400, 599 };

#define LR_LOC(f)	offsetof(struct lr_loc, f)

/*---- configuration (master) ----*/

/* find or create the zone record <name> of this cycle */
static struct lr_zone *
lr_zone_get(struct pt_conf_ctx *cf, const char *name, size_t len)
{
	struct lr_http *lh = cf->http_conf[pt_mod_limit_req.index];
	struct lr_zone **zs, *z;
	size_t i;

	if (lh->zones.elts == NULL)
		pt_array_init(&lh->zones, cf->pool, 4, sizeof(struct lr_zone *));
	zs = lh->zones.elts;
	for (i = 0; i < lh->zones.nelts; i++)
		if (strlen(zs[i]->name) == len && memcmp(zs[i]->name, name, len) == 0)
			return zs[i];
	z = pt_pcalloc(cf->pool, sizeof(*z));
	z->name = pt_pstrndup(cf->pool, name, len);
	*(struct lr_zone **)pt_array_push(&lh->zones) = z;
	return z;
}

/* zone init (master): a fresh table, or the previous cycle's one */
static int
lr_zone_init(struct pt_zone *zone, void *old_data)
{
	if (old_data != NULL) {
		zone->data = old_data;
		return PT_OK;
	}
	zone->data = pt_limit_table_create(zone->shm, sizeof(struct lr_node_value));
	return zone->data != NULL ? PT_OK : PT_ERROR;
}

/* "10r/s", "30r/m" into milli-requests per second */
static int
lr_parse_rate(const char *s, struct lr_zone *z)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || end == s || n <= 0 || n > 1000000)
		return PT_ERROR;
	if (strcmp(end, "r/s") == 0) {
		z->rate = (uint64_t)n * 1000;
		z->rate_window = 1;
	} else if (strcmp(end, "r/m") == 0) {
		z->rate = (uint64_t)n * 1000 / 60;
		z->rate_window = 60;
		if (z->rate == 0)
			z->rate = 1;
	} else {
		return PT_ERROR;
	}
	z->rate_n = n;
	return PT_OK;
}

static const char *
lr_zone_directive(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const struct pt_conf_node *n = cf->node;
	const char *err = NULL, *name = NULL, *colon = NULL, *rate = NULL;
	struct lr_zone *z;
	size_t size = 0;
	int i;

	(void)conf;
	for (i = 1; i < n->nargs; i++) {
		const char *a = n->args[i];

		if (strncmp(a, "zone=", 5) == 0) {
			name = a + 5;
			colon = strchr(name, ':');
			if (colon == NULL || colon == name ||
			    pt_parse_size(colon + 1, &size) != PT_OK || size == 0)
				return pt_psprintf(cf->pool, "invalid zone size \"%s\"", a);
		} else if (strncmp(a, "rate=", 5) == 0) {
			rate = a + 5;
		} else if (strncmp(a, "redis=", 6) == 0 || strncmp(a, "redis_timeout=", 14) == 0 ||
		    strncmp(a, "redis_fail=", 11) == 0) {
			continue;	/* below, once the zone is known */
		} else {
			return pt_psprintf(cf->pool, "invalid parameter \"%s\"", a);
		}
	}
	if (name == NULL)
		return pt_psprintf(cf->pool, "\"%s\" must have \"zone\" parameter", d->name);
	if (rate == NULL)
		return pt_psprintf(cf->pool, "\"%s\" must have \"rate\" parameter", d->name);
	z = lr_zone_get(cf, name, (size_t)(colon - name));
	if (z->key != NULL)
		return pt_psprintf(cf->pool, "zone \"%s\" is already declared at %s:%d", z->name,
		    z->file, z->line);
	if (lr_parse_rate(rate, z) != PT_OK)
		return pt_psprintf(cf->pool, "invalid rate \"%s\"", rate);
	z->key = pt_cv_compile(cf, n->args[0], &err);
	if (z->key == NULL)
		return err;
	z->file = n->file;
	z->line = n->line;
	z->redis_timeout = 100;
	for (i = 1; i < n->nargs; i++) {
		const char *a = n->args[i];

		if (strncmp(a, "redis=", 6) == 0) {
			int cnt = 0;

			z->redis_addr = pt_pstrdup(cf->pool, a + 6);
			if (pt_sockaddr_parse(z->redis_addr, 6379, &z->redis_sa, 1, &cnt, &err) !=
			    PT_OK || cnt < 1)
				return pt_psprintf(cf->pool, "invalid redis address \"%s\"%s%s",
				    a + 6, err ? ": " : "", err ? err : "");
		} else if (strncmp(a, "redis_timeout=", 14) == 0) {
			if (pt_parse_msec(a + 14, &z->redis_timeout) != PT_OK ||
			    z->redis_timeout == 0)
				return pt_psprintf(cf->pool, "invalid redis_timeout \"%s\"", a + 14);
		} else if (strncmp(a, "redis_fail=", 11) == 0) {
			int k;

			for (k = 0; lr_fail_names[k] != NULL; k++)
				if (strcmp(a + 11, lr_fail_names[k]) == 0)
					break;
			if (lr_fail_names[k] == NULL)
				return pt_psprintf(cf->pool, "invalid redis_fail \"%s\", it must be "
				    "\"open\", \"local\" or \"closed\"", a + 11);
			z->redis_fail = k == 0 ? LR_FAIL_LOCAL : k == 1 ? LR_FAIL_OPEN :
			    LR_FAIL_CLOSED;
		}
	}
	if (z->redis_addr == NULL) {
		for (i = 1; i < n->nargs; i++)
			if (strncmp(n->args[i], "redis_", 6) == 0)
				return pt_psprintf(cf->pool, "\"%s\" needs \"redis=\"", n->args[i]);
	}
	z->zone = pt_zone_add(cf, z->name, size, &pt_mod_limit_req, lr_zone_init, &err);
	if (z->zone == NULL)
		return err;
	return NULL;
}

static const char *
lr_rule_directive(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct lr_loc *ll = conf;
	const struct pt_conf_node *n = cf->node;
	struct lr_rule *rule, *o;
	const char *err = NULL, *name = NULL;
	long burst = 0, delay = 0;
	int nodelay = 0, has_delay = 0, i;
	size_t k;

	for (i = 0; i < n->nargs; i++) {
		const char *a = n->args[i];

		if (strncmp(a, "zone=", 5) == 0 && a[5] != '\0') {
			name = a + 5;
		} else if (strncmp(a, "burst=", 6) == 0) {
			if (pt_parse_int(a + 6, 0, 1000000, &burst) != PT_OK)
				return pt_psprintf(cf->pool, "invalid burst value \"%s\"", a);
		} else if (strncmp(a, "delay=", 6) == 0) {
			if (pt_parse_int(a + 6, 0, 1000000, &delay) != PT_OK)
				return pt_psprintf(cf->pool, "invalid delay value \"%s\"", a);
			has_delay = 1;
		} else if (strcmp(a, "nodelay") == 0) {
			nodelay = 1;
		} else {
			return pt_psprintf(cf->pool, "invalid parameter \"%s\"", a);
		}
	}
	if (name == NULL)
		return pt_psprintf(cf->pool, "\"%s\" must have \"zone\" parameter", d->name);
	if (nodelay && has_delay)
		return "\"nodelay\" and \"delay\" are mutually exclusive";
	if (ll->rules == NULL) {
		ll->rules = pt_palloc(cf->pool, sizeof(*ll->rules));
		pt_array_init(ll->rules, cf->pool, 2, sizeof(struct lr_rule));
	}
	rule = pt_array_push(ll->rules);
	rule->zone = lr_zone_get(cf, name, strlen(name));
	for (k = 0; k + 1 < ll->rules->nelts; k++) {
		o = (struct lr_rule *)ll->rules->elts + k;
		if (o->zone == rule->zone)
			return pt_psprintf(cf->pool, "zone \"%s\" is used twice here", name);
	}
	if (pt_zone_add(cf, name, 0, &pt_mod_limit_req, lr_zone_init, &err) == NULL)
		return err;
	rule->burst = burst;
	rule->nodelay = nodelay;
	rule->delay = nodelay ? burst : delay;
	return NULL;
}

static const struct pt_directive lr_directives[] = {
	{ "limit_req_zone", PT_CTX_HTTP, PT_D_MULTI, 0, 3, 6, PT_LEVEL_HTTP, PT_NO_OFFSET,
	  lr_zone_directive, NULL, NULL,
	  "declare a request rate zone: key, zone=NAME:SIZE, rate=, optional redis=" },
	{ "limit_req", PT_CTX_HTTP_ANY, PT_D_MULTI, 0, 1, 4, PT_LEVEL_LOC, PT_NO_OFFSET,
	  lr_rule_directive, NULL, NULL,
	  "limit the request rate per key of a zone, with burst and delay" },
	{ "limit_req_status", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, LR_LOC(status),
	  pt_conf_set_num, "503", &lr_status_bounds, "status of rejected requests" },
	{ "limit_req_log_level", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, LR_LOC(log_level),
	  pt_conf_set_enum, "error", lr_level_names, "log level of rejections (delays: one lower)" },
	{ "limit_req_dry_run", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, LR_LOC(dry_run),
	  pt_conf_set_flag, "off", NULL, "account requests but neither reject nor delay" },
	{ "limit_req_headers", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, LR_LOC(headers),
	  pt_conf_set_flag, "off", NULL, "send RateLimit-Policy, RateLimit and Retry-After fields" },
	PT_DIRECTIVE_END
};

static const char *
lr_conf_merge(struct pt_conf_ctx *cf, enum pt_conf_level level, void *parent, void *child)
{
	struct lr_loc *p = parent, *c = child;

	(void)cf;
	if (level == PT_LEVEL_LOC && c->rules == NULL && p != NULL)
		c->rules = p->rules;
	return NULL;
}

/*---- runtime (worker) ----*/

static int lr_handler(struct pt_request *r);

static int
lr_expired(struct pt_limit_node *n, pt_msec_t now)
{
	struct lr_node_value *v = pt_limit_value(n);

	return now >= v->idle_at;
}

static int
lr_evictable(struct pt_limit_node *n, pt_msec_t now)
{
	(void)n;
	(void)now;
	return 1;	/* the oldest bucket is forgotten: it restarts empty */
}

/*
 * Account one request for <key> in local zone <z> with <burst> (milli):
 * the leaky bucket, under the zone lock. The bucket's level drains at
 * the rate; a request adds 1000; its excess is the level minus its own
 * 1000, so the first request of an empty bucket has none (as in nginx).
 */
static void
lr_check_local(struct lr_zone *z, struct pt_str key, int64_t burst, struct lr_result *res)
{
	struct pt_shm *shm = z->zone->shm;
	struct pt_limit_table *t = z->zone->data;
	uint32_t hash = pt_limit_hash(key.data, key.len);
	struct pt_limit_node *n;
	struct lr_node_value *v;
	pt_msec_t now = pt_current_msec;
	int64_t level = 0;

	memset(res, 0, sizeof(*res));
	pt_shm_lock(shm);
	n = pt_limit_lookup(t, key.data, key.len, hash);
	if (n != NULL) {
		/* the bucket drained since the last accepted request */
		v = pt_limit_value(n);
		level = v->level;
		if (now > v->last)
			level -= (int64_t)((uint64_t)z->rate * (now - v->last) / 1000);
		if (level < 0)
			level = 0;
	}
	level += 1000;
	res->excess = level - 1000;
	if (res->excess > burst) {
		res->rejected = 1;
		pt_shm_unlock(shm);
		return;
	}
	if (n == NULL)
		n = pt_limit_insert(shm, t, key.data, key.len, hash, lr_expired, lr_evictable, now);
	if (n != NULL) {
		v = pt_limit_value(n);
		v->level = level;
		v->last = now;
		v->idle_at = now + (pt_msec_t)((uint64_t)level * 1000 / z->rate) + 1;
	}
	pt_shm_unlock(shm);
}

/* undo the account of one request for <key> in local zone <z> */
static void
lr_rollback_local(struct lr_zone *z, struct pt_str key)
{
	struct pt_shm *shm = z->zone->shm;
	struct pt_limit_table *t = z->zone->data;
	struct pt_limit_node *n;
	struct lr_node_value *v;

	pt_shm_lock(shm);
	n = pt_limit_lookup(t, key.data, key.len, pt_limit_hash(key.data, key.len));
	if (n != NULL) {
		v = pt_limit_value(n);
		v->level = v->level > 1000 ? v->level - 1000 : 0;
	}
	pt_shm_unlock(shm);
}

static void
lr_cleanup(void *data)
{
	struct lr_ctx *ctx = data;

	pt_timer_del(&ctx->timer);
	if (ctx->op != NULL) {
		pt_lr_redis_cancel(ctx->op);
		ctx->op = NULL;
	}
	ctx->r = NULL;
}

static void
lr_resume(struct lr_ctx *ctx)
{
	struct pt_request *r = ctx->r;

	ctx->waiting = 0;
	if (r == NULL || r->done)
		return;
	pt_http_run_phases(r);
}

static void
lr_delay_expired(struct pt_timer *t)
{
	lr_resume(t->data);
}

static void
lr_redis_done(void *data, const struct lr_result *res, int ok)
{
	struct lr_ctx *ctx = data;

	ctx->op = NULL;
	if (ok) {
		ctx->res = *res;
		ctx->have_result = 1;
	}
	/* not ok: have_result stays 0 and the handler falls back */
	ctx->res.from_redis = ok ? 1 : -1;
	lr_resume(ctx);
}

static void
lr_log(struct pt_request *r, enum pt_log_level level, const char *what, struct lr_zone *z,
    int64_t excess, int dry_run)
{
	char host[64];

	if (!pt_log_enabled(level))
		return;
	pt_log(level, 0, "%s requests,%s excess: %lld.%03lld by zone \"%s\", client: %s, "
	    "request: \"%.*s\"", what, dry_run ? " dry run," : "", (long long)(excess / 1000),
	    (long long)(excess % 1000), z->name, pt_limit_client(r, host, sizeof(host)),
	    (int)r->request_line.len, r->request_line.data);
}

/* the RateLimit numbers of rule <rule> after <res>; keep the tightest */
static void
lr_note_headers(struct lr_ctx *ctx, struct lr_rule *rule, const struct lr_result *res)
{
	int64_t burst = (int64_t)rule->burst * 1000, left;
	long remaining;
	pt_msec_t reset, retry = 0;

	left = burst - res->excess;
	remaining = left > 0 ? (long)(left / 1000) : 0;
	reset = (pt_msec_t)((uint64_t)(res->excess + 1000) * 1000 / rule->zone->rate);
	if (res->rejected) {
		remaining = 0;
		retry = (pt_msec_t)((uint64_t)(res->excess - burst) * 1000 / rule->zone->rate);
	}
	if (ctx->hzone == NULL || remaining < ctx->remaining ||
	    (remaining == ctx->remaining && retry > ctx->retry)) {
		ctx->hzone = rule->zone;
		ctx->remaining = remaining;
		ctx->reset = reset;
		ctx->retry = retry;
	}
}

static int
lr_handler(struct pt_request *r)
{
	struct lr_loc *ll = pt_http_loc_conf(r, &pt_mod_limit_req);
	struct lr_ctx *ctx = r->limit_req_ctx;
	struct lr_rule *rules;
	unsigned i;

	if (ctx == NULL) {
		if (ll->rules == NULL || ll->rules->nelts == 0)
			return PT_DECLINED;
		ctx = pt_pcalloc(r->pool, sizeof(*ctx));
		ctx->r = r;
		ctx->conf = ll;
		ctx->status = LR_PASSED;
		ctx->keys = pt_pcalloc(r->pool, sizeof(struct pt_str) * ll->rules->nelts);
		pt_timer_init(&ctx->timer, lr_delay_expired, ctx);
		pt_pool_cleanup_add(r->pool, lr_cleanup, ctx);
		r->limit_req_ctx = ctx;
	}
	if (ctx->done)
		return PT_DECLINED;
	ll = ctx->conf;
	rules = ll->rules->elts;
	for (; ctx->idx < ll->rules->nelts; ctx->idx++) {
		struct lr_rule *rule = &rules[ctx->idx];
		struct lr_zone *z = rule->zone;
		int64_t burst = (int64_t)rule->burst * 1000;
		struct lr_result *res = &ctx->res;
		pt_msec_t delay = 0;

		if (!ctx->have_result) {
			struct pt_str *key = &ctx->keys[ctx->idx];

			if (res->from_redis == 0) {
				pt_cv_eval(r, z->key, key);
				if (key->len == 0)
					continue;	/* an empty key is not limited */
				if (key->len > 65535) {
					pt_log(PT_LOG_ERR, 0, "the value of the \"%.*s\" key is more than "
					    "65535 bytes: %zu", (int)z->key->raw.len, z->key->raw.data,
					    key->len);
					return 500;
				}
			}
			if (z->redis != NULL && res->from_redis == 0) {
				int rc = pt_lr_redis_check(z, *key, burst, lr_redis_done, ctx, &ctx->op);

				if (rc == PT_AGAIN) {
					ctx->waiting = 1;
					return PT_AGAIN;
				}
				res->from_redis = -1;	/* known down: fall back now */
			}
			if (res->from_redis == -1 && z->redis_fail != LR_FAIL_LOCAL) {
				res->from_redis = 0;
				if (z->redis_fail == LR_FAIL_OPEN)
					continue;
				memset(res, 0, sizeof(*res));
				res->rejected = 1;
				res->excess = burst + 1000;
			} else {
				lr_check_local(z, *key, burst, res);
			}
		}
		ctx->have_result = 0;
		res->from_redis = 0;
		lr_note_headers(ctx, rule, res);
		if (res->rejected) {
			lr_log(r, lr_levels[ll->log_level], "limiting", z, res->excess,
			    ll->dry_run);
			if (ll->dry_run) {
				ctx->status = LR_REJECTED_DRY_RUN;
				continue;
			}
			/* give back what the rules before this one took */
			for (i = 0; i < ctx->idx; i++) {
				if (ctx->keys[i].len > 0 && rules[i].zone->redis == NULL)
					lr_rollback_local(rules[i].zone, ctx->keys[i]);
			}
			ctx->status = LR_REJECTED;
			ctx->done = 1;
			return (int)ll->status;
		}
		if (res->excess > rule->delay * 1000)
			delay = (pt_msec_t)((uint64_t)(res->excess - rule->delay * 1000) * 1000 /
			    z->rate);
		if (delay > 0) {
			enum pt_log_level lv = lr_levels[ll->log_level] + 1;

			lr_log(r, lv, "delaying", z, res->excess, ll->dry_run);
			if (ctx->status == LR_PASSED)
				ctx->status = ll->dry_run ? LR_DELAYED_DRY_RUN : LR_DELAYED;
			if (delay > ctx->delay)
				ctx->delay = delay;
		}
	}
	ctx->done = 1;
	if (ctx->delay > 0 && !ll->dry_run) {
		ctx->waiting = 1;
		pt_timer_set(&ctx->timer, ctx->delay);
		return PT_AGAIN;
	}
	return PT_DECLINED;
}

/* response header filter: the RateLimit fields (limit_req_headers on) */
static int
lr_header_filter(struct pt_request *r)
{
	struct lr_ctx *ctx = r->limit_req_ctx;
	struct lr_zone *z;
	char *p;

	if (ctx == NULL || ctx->hzone == NULL || !ctx->conf->headers)
		return PT_OK;
	z = ctx->hzone;
	p = pt_psprintf(r->pool, "\"%s\";q=%ld;w=%d", z->name, z->rate_n, z->rate_window);
	pt_http_out_add(r, PT_STR("RateLimit-Policy"), (struct pt_str){ strlen(p), p });
	p = pt_psprintf(r->pool, "\"%s\";r=%ld;t=%llu", z->name, ctx->remaining,
	    (unsigned long long)((ctx->reset + 999) / 1000));
	pt_http_out_add(r, PT_STR("RateLimit"), (struct pt_str){ strlen(p), p });
	if (ctx->status == LR_REJECTED && (r->status == 429 || r->status == 503 ||
	    r->err_status == 429 || r->err_status == 503)) {
		unsigned long long s = (ctx->retry + 999) / 1000;

		p = pt_psprintf(r->pool, "%llu", s > 0 ? s : 1);
		pt_http_out_add(r, PT_STR("Retry-After"), (struct pt_str){ strlen(p), p });
	}
	return PT_OK;
}

static int
lr_var_status(struct pt_request *r, void *data, struct pt_str *out)
{
	struct lr_ctx *ctx = r->limit_req_ctx;

	(void)data;
	if (ctx == NULL || ctx->status == LR_NONE)
		return PT_DECLINED;
	out->data = lr_status_names[ctx->status];
	out->len = strlen(out->data);
	return PT_OK;
}

static const struct pt_var_def lr_variables[] = {
	{ "limit_req_status", PT_VAR_NOCACHE, lr_var_status, NULL },
	PT_VAR_DEF_END
};

static int
lr_postconfig(struct pt_cycle *cycle)
{
	struct lr_http *lh = pt_http_main_conf(cycle, &pt_mod_limit_req);
	struct lr_zone **zs;
	size_t i;

	if (lh == NULL || lh->zones.nelts == 0)
		return PT_OK;
	zs = lh->zones.elts;
	for (i = 0; i < lh->zones.nelts; i++) {
		if (zs[i]->key == NULL) {
			pt_log(PT_LOG_EMERG, 0, "limit_req zone \"%s\" is used but not declared "
			    "by \"limit_req_zone\"", zs[i]->name);
			return PT_ERROR;
		}
	}
	if (pt_phase_add(cycle, PT_PHASE_ACCESS, 200, lr_handler) != PT_OK ||
	    pt_http_filter_add(cycle, 500, lr_header_filter) != PT_OK)
		return PT_ERROR;
	return PT_OK;
}

static int
lr_init_worker(struct pt_cycle *cycle)
{
	struct lr_http *lh = cycle->http_conf ? pt_http_main_conf(cycle, &pt_mod_limit_req) : NULL;

	if (lh == NULL || lh->zones.nelts == 0)
		return PT_OK;
	return pt_lr_redis_init_worker(cycle, &lh->zones);
}

static void
lr_exit_worker(struct pt_cycle *cycle)
{
	struct lr_http *lh = cycle->http_conf ? pt_http_main_conf(cycle, &pt_mod_limit_req) : NULL;

	if (lh != NULL && lh->zones.nelts > 0)
		pt_lr_redis_exit_worker(&lh->zones);
}

struct pt_module pt_mod_limit_req = {
	.name = "limit_req",
	.directives = lr_directives,
	.conf_size = { [PT_LEVEL_HTTP] = sizeof(struct lr_http),
		       [PT_LEVEL_LOC] = sizeof(struct lr_loc) },
	.conf_merge = lr_conf_merge,
	.postconfig = lr_postconfig,
	.init_worker = lr_init_worker,
	.exit_worker = lr_exit_worker,
	.variables = lr_variables,
};
