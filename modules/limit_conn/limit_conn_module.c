/*
 * limit_conn_module.c: the number of requests in progress per key.
 *
 * limit_conn_zone declares a shared-memory zone keyed by a complex
 * value; limit_conn ZONE N lets at most N requests of one key run at a
 * time. The count is taken in the ACCESS phase (priority 300, after
 * allow/deny and limit_req) and given back by a cleanup of the request
 * pool, which runs however the request ends (response sent, client
 * abort, upstream error, timeout, worker shutdown). A key's node is
 * freed when its count drops to zero, so a full zone holds only keys
 * with requests in progress: a new key then gets limit_conn_status, as
 * in nginx. A request is counted once: its state (r->limit_conn_ctx)
 * survives internal redirects such as error_page.
 */
#include "portico.h"
#include "../limit_req/limit_shm.h"

extern struct pt_module pt_mod_limit_conn;

enum lc_status {
	LC_NONE = 0,
	LC_PASSED,
	LC_REJECTED,
	LC_REJECTED_DRY_RUN,
};
static const char *const lc_status_names[] = { "", "PASSED", "REJECTED", "REJECTED_DRY_RUN" };

/* one limit_conn_zone, maybe referenced before it is declared */
struct lc_zone {
	char			*name;		/* zone=NAME */
	struct pt_cv		*key;		/* NULL until declared */
	struct pt_zone		*zone;		/* the shared-memory zone */
	const char		*file;		/* where it was declared */
	int			 line;
};

struct lc_rule {
	struct lc_zone		*zone;
	long			 max;		/* requests in progress per key */
};

struct lc_http {
	struct pt_array		 zones;		/* struct lc_zone * */
};

struct lc_loc {
	struct pt_array		*rules;		/* struct lc_rule, inherited when NULL */
	long			 status;	/* limit_conn_status */
	int			 log_level;	/* limit_conn_log_level (index) */
	int			 dry_run;	/* limit_conn_dry_run */
};

struct lc_node_value {
	uint32_t		 count;		/* requests in progress */
};

/* one count held by a request, given back by the pool cleanup */
struct lc_hold {
	struct lc_zone		*zone;
	struct pt_str		 key;		/* in the request pool */
	uint32_t		 hash;
};

struct lc_ctx {
	enum lc_status		 status;	/* $limit_conn_status */
	unsigned		 done:1;
};

static const char *const lc_level_names[] = { "info", "notice", "warn", "error", NULL };
static const enum pt_log_level lc_levels[] = { PT_LOG_INFO, PT_LOG_NOTICE, PT_LOG_WARN,
	PT_LOG_ERR };
static const struct pt_conf_bounds lc_status_bounds = { 400, 599 };

#define LC_LOC(f)	offsetof(struct lc_loc, f)

/*---- configuration (master) ----*/

static struct lc_zone *
lc_zone_get(struct pt_conf_ctx *cf, const char *name, size_t len)
{
	struct lc_http *lh = cf->http_conf[pt_mod_limit_conn.index];
	struct lc_zone **zs, *z;
	size_t i;

	if (lh->zones.elts == NULL)
		pt_array_init(&lh->zones, cf->pool, 4, sizeof(struct lc_zone *));
	zs = lh->zones.elts;
	for (i = 0; i < lh->zones.nelts; i++)
		if (strlen(zs[i]->name) == len && memcmp(zs[i]->name, name, len) == 0)
			return zs[i];
	z = pt_pcalloc(cf->pool, sizeof(*z));
	z->name = pt_pstrndup(cf->pool, name, len);
	*(struct lc_zone **)pt_array_push(&lh->zones) = z;
	return z;
}

static int
lc_zone_init(struct pt_zone *zone, void *old_data)
{
	if (old_data != NULL) {
		zone->data = old_data;
		return PT_OK;
	}
	zone->data = pt_limit_table_create(zone->shm, sizeof(struct lc_node_value));
	return zone->data != NULL ? PT_OK : PT_ERROR;
}

static const char *
lc_zone_directive(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const struct pt_conf_node *n = cf->node;
	const char *a = n->args[1], *name, *colon, *err = NULL;
	struct lc_zone *z;
	size_t size = 0;

	(void)conf;
	if (strncmp(a, "zone=", 5) != 0)
		return pt_psprintf(cf->pool, "invalid parameter \"%s\"", a);
	name = a + 5;
	colon = strchr(name, ':');
	if (colon == NULL || colon == name || pt_parse_size(colon + 1, &size) != PT_OK ||
	    size == 0)
		return pt_psprintf(cf->pool, "invalid zone size \"%s\"", a);
	z = lc_zone_get(cf, name, (size_t)(colon - name));
	if (z->key != NULL)
		return pt_psprintf(cf->pool, "zone \"%s\" is already declared at %s:%d", z->name,
		    z->file, z->line);
	z->key = pt_cv_compile(cf, n->args[0], &err);
	if (z->key == NULL)
		return err;
	z->file = n->file;
	z->line = n->line;
	z->zone = pt_zone_add(cf, z->name, size, &pt_mod_limit_conn, lc_zone_init, &err);
	if (z->zone == NULL)
		return err;
	(void)d;
	return NULL;
}

static const char *
lc_rule_directive(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct lc_loc *ll = conf;
	const struct pt_conf_node *n = cf->node;
	struct lc_rule *rule;
	const char *err = NULL;
	long max;
	size_t k;

	if (pt_parse_int(n->args[1], 1, 65535, &max) != PT_OK)
		return pt_psprintf(cf->pool, "invalid number of connections \"%s\"", n->args[1]);
	if (ll->rules == NULL) {
		ll->rules = pt_palloc(cf->pool, sizeof(*ll->rules));
		pt_array_init(ll->rules, cf->pool, 2, sizeof(struct lc_rule));
	}
	rule = pt_array_push(ll->rules);
	rule->zone = lc_zone_get(cf, n->args[0], strlen(n->args[0]));
	rule->max = max;
	for (k = 0; k + 1 < ll->rules->nelts; k++)
		if (((struct lc_rule *)ll->rules->elts)[k].zone == rule->zone)
			return pt_psprintf(cf->pool, "zone \"%s\" is used twice here", n->args[0]);
	if (pt_zone_add(cf, n->args[0], 0, &pt_mod_limit_conn, lc_zone_init, &err) == NULL)
		return err;
	(void)d;
	return NULL;
}

static const struct pt_directive lc_directives[] = {
	{ "limit_conn_zone", PT_CTX_HTTP, PT_D_MULTI, 0, 2, 2, PT_LEVEL_HTTP, PT_NO_OFFSET,
	  lc_zone_directive, NULL, NULL, "declare a zone counting requests in progress per key" },
	{ "limit_conn", PT_CTX_HTTP_ANY, PT_D_MULTI, 0, 2, 2, PT_LEVEL_LOC, PT_NO_OFFSET,
	  lc_rule_directive, NULL, NULL, "limit the requests in progress per key of a zone" },
	{ "limit_conn_status", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, LC_LOC(status),
	  pt_conf_set_num, "503", &lc_status_bounds, "status of rejected requests" },
	{ "limit_conn_log_level", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, LC_LOC(log_level),
	  pt_conf_set_enum, "error", lc_level_names, "log level of rejections" },
	{ "limit_conn_dry_run", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, LC_LOC(dry_run),
	  pt_conf_set_flag, "off", NULL, "count requests but do not reject" },
	PT_DIRECTIVE_END
};

static const char *
lc_conf_merge(struct pt_conf_ctx *cf, enum pt_conf_level level, void *parent, void *child)
{
	struct lc_loc *p = parent, *c = child;

	(void)cf;
	if (level == PT_LEVEL_LOC && c->rules == NULL && p != NULL)
		c->rules = p->rules;
	return NULL;
}

/*---- runtime (worker) ----*/

/* give back one count (request pool cleanup) */
static void
lc_release(void *data)
{
	struct lc_hold *h = data;
	struct pt_shm *shm = h->zone->zone->shm;
	struct pt_limit_table *t = h->zone->zone->data;
	struct pt_limit_node *n;
	struct lc_node_value *v;

	pt_shm_lock(shm);
	n = pt_limit_lookup(t, h->key.data, h->key.len, h->hash);
	if (n != NULL) {
		v = pt_limit_value(n);
		if (v->count > 0)
			v->count--;
		if (v->count == 0)
			pt_limit_remove(shm, t, n);
	}
	pt_shm_unlock(shm);
}

static int
lc_handler(struct pt_request *r)
{
	struct lc_loc *ll = pt_http_loc_conf(r, &pt_mod_limit_conn);
	struct lc_ctx *ctx = r->limit_conn_ctx;
	struct lc_rule *rules;
	size_t i;

	if (ll->rules == NULL || ll->rules->nelts == 0 || (ctx != NULL && ctx->done))
		return PT_DECLINED;
	if (ctx == NULL) {
		ctx = pt_pcalloc(r->pool, sizeof(*ctx));
		r->limit_conn_ctx = ctx;
	}
	ctx->done = 1;
	ctx->status = LC_PASSED;
	rules = ll->rules->elts;
	for (i = 0; i < ll->rules->nelts; i++) {
		struct lc_zone *z = rules[i].zone;
		struct pt_shm *shm = z->zone->shm;
		struct pt_limit_table *t = z->zone->data;
		struct pt_limit_node *n;
		struct lc_node_value *v;
		struct pt_str key;
		uint32_t hash;
		int over = 0, full = 0;

		pt_cv_eval(r, z->key, &key);
		if (key.len == 0)
			continue;
		if (key.len > 255) {
			pt_log(PT_LOG_ERR, 0, "the value of the \"%.*s\" key is more than 255 bytes: "
			    "%zu", (int)z->key->raw.len, z->key->raw.data, key.len);
			return 500;
		}
		hash = pt_limit_hash(key.data, key.len);
		pt_shm_lock(shm);
		n = pt_limit_lookup(t, key.data, key.len, hash);
		if (n == NULL)
			n = pt_limit_insert(shm, t, key.data, key.len, hash, NULL, NULL,
			    pt_current_msec);
		if (n == NULL) {
			full = 1;
		} else {
			v = pt_limit_value(n);
			if (v->count >= (uint32_t)rules[i].max && !ll->dry_run)
				over = 1;
			else if (v->count >= (uint32_t)rules[i].max)
				over = 2;	/* dry run: counted, noted, not rejected */
			if (over != 1)
				v->count++;
		}
		pt_shm_unlock(shm);
		if (full || over) {
			enum pt_log_level lv = lc_levels[ll->log_level];

			if (pt_log_enabled(lv)) {
				char host[64];

				pt_log(lv, 0, "limiting connections%s by zone \"%s\"%s, client: %s, "
				    "request: \"%.*s\"", ll->dry_run ? ", dry run," : "", z->name,
				    full ? " (zone is full)" : "", pt_limit_client(r, host, sizeof(host)),
				    (int)r->request_line.len, r->request_line.data);
			}
		}
		if (full && ll->dry_run) {
			ctx->status = LC_REJECTED_DRY_RUN;
			continue;
		}
		if (full || over == 1) {
			/* counts taken by earlier rules go back with the pool */
			ctx->status = LC_REJECTED;
			return (int)ll->status;
		}
		if (over == 2)
			ctx->status = LC_REJECTED_DRY_RUN;
		{
			struct lc_hold *h = pt_palloc(r->pool, sizeof(*h));

			h->zone = z;
			h->key.data = pt_pstrndup(r->pool, key.data, key.len);
			h->key.len = key.len;
			h->hash = hash;
			pt_pool_cleanup_add(r->pool, lc_release, h);
		}
	}
	return PT_DECLINED;
}

static int
lc_var_status(struct pt_request *r, void *data, struct pt_str *out)
{
	struct lc_ctx *ctx = r->limit_conn_ctx;

	(void)data;
	if (ctx == NULL || ctx->status == LC_NONE)
		return PT_DECLINED;
	out->data = lc_status_names[ctx->status];
	out->len = strlen(out->data);
	return PT_OK;
}

static const struct pt_var_def lc_variables[] = {
	{ "limit_conn_status", PT_VAR_NOCACHE, lc_var_status, NULL },
	PT_VAR_DEF_END
};

static int
lc_postconfig(struct pt_cycle *cycle)
{
	struct lc_http *lh = pt_http_main_conf(cycle, &pt_mod_limit_conn);
	struct lc_zone **zs;
	size_t i;

	if (lh == NULL || lh->zones.nelts == 0)
		return PT_OK;
	zs = lh->zones.elts;
	for (i = 0; i < lh->zones.nelts; i++) {
		if (zs[i]->key == NULL) {
			pt_log(PT_LOG_EMERG, 0, "limit_conn zone \"%s\" is used but not declared "
			    "by \"limit_conn_zone\"", zs[i]->name);
			return PT_ERROR;
		}
	}
	return pt_phase_add(cycle, PT_PHASE_ACCESS, 300, lc_handler);
}

struct pt_module pt_mod_limit_conn = {
	.name = "limit_conn",
	.directives = lc_directives,
	.conf_size = { [PT_LEVEL_HTTP] = sizeof(struct lc_http),
		       [PT_LEVEL_LOC] = sizeof(struct lc_loc) },
	.conf_merge = lc_conf_merge,
	.postconfig = lc_postconfig,
	.variables = lc_variables,
};
