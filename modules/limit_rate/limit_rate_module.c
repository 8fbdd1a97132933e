/*
 * limit_rate_module.c: response bandwidth, nginx's limit_rate and
 * limit_rate_after. The values (a size, or a value with variables such
 * as a map result, evaluated once per response) are put on the request
 * by a header filter; the writer in worker/http.c does the pacing, for
 * every kind of output buffer. proxy_limit_rate (reading from the
 * upstream) belongs to the proxy module.
 */
#include "portico.h"

extern struct pt_module pt_mod_limit_rate;

/* a size written as such, or with variables */
struct lrt_value {
	size_t			 size;		/* when <cv> is NULL */
	struct pt_cv		*cv;		/* evaluated per response */
	unsigned		 set:1;		/* written at this level */
};

struct lrt_loc {
	struct lrt_value	 rate;		/* limit_rate, 0 = unlimited */
	struct lrt_value	 after;		/* limit_rate_after */
};

/*---- configuration (master) ----*/

static const char *
lrt_set(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct lrt_loc *l = conf;
	struct lrt_value *v = strcmp(d->name, "limit_rate") == 0 ? &l->rate : &l->after;
	const char *a = cf->node->args[0], *err = NULL;

	if (v->set)
		return pt_psprintf(cf->pool, "\"%s\" directive is duplicate", d->name);
	v->set = 1;
	if (strchr(a, '$') != NULL) {
		v->cv = pt_cv_compile(cf, a, &err);
		return v->cv == NULL ? err : NULL;
	}
	if (pt_parse_size(a, &v->size) != PT_OK || v->size == PT_UNSET_SIZE)
		return pt_psprintf(cf->pool, "invalid value \"%s\" in \"%s\", it must be a size "
		    "like 512, 100k or 1m", a, d->name);
	return NULL;
}

static const struct pt_directive lrt_directives[] = {
	{ "limit_rate", PT_CTX_HTTP_ANY | PT_CTX_IF, 0, 0, 1, 1, PT_LEVEL_LOC, PT_NO_OFFSET,
	  lrt_set, NULL, NULL, "response bandwidth in bytes per second (0: unlimited)" },
	{ "limit_rate_after", PT_CTX_HTTP_ANY | PT_CTX_IF, 0, 0, 1, 1, PT_LEVEL_LOC,
	  PT_NO_OFFSET, lrt_set, NULL, NULL, "bytes of a response sent before limit_rate applies" },
	PT_DIRECTIVE_END
};

static const char *
lrt_conf_merge(struct pt_conf_ctx *cf, enum pt_conf_level level, void *parent, void *child)
{
	struct lrt_loc *p = parent, *c = child;

	(void)cf;
	if (level != PT_LEVEL_LOC || p == NULL)
		return NULL;
	if (!c->rate.set)
		c->rate = p->rate;
	if (!c->after.set)
		c->after = p->after;
	return NULL;
}

/*---- runtime (worker) ----*/

/* the value of <v> for <r>; a value that is not a size counts as 0 */
static size_t
lrt_eval(struct pt_request *r, const struct lrt_value *v, const char *name)
{
	struct pt_str s;
	char buf[32];
	size_t n;

	if (v->cv == NULL)
		return v->size;
	pt_cv_eval(r, v->cv, &s);
	if (s.len == 0)
		return 0;
	if (s.len >= sizeof(buf)) {
		pt_log(PT_LOG_ERR, 0, "invalid %s \"%.*s\"", name, (int)PT_MIN(s.len, 64), s.data);
		return 0;
	}
	memcpy(buf, s.data, s.len);
	buf[s.len] = '\0';
	if (pt_parse_size(buf, &n) != PT_OK || n == PT_UNSET_SIZE) {
		pt_log(PT_LOG_ERR, 0, "invalid %s \"%s\"", name, buf);
		return 0;
	}
	return n;
}

static int
lrt_header_filter(struct pt_request *r)
{
	struct lrt_loc *l = pt_http_loc_conf(r, &pt_mod_limit_rate);

	if (l == NULL || !l->rate.set)
		return PT_OK;
	r->limit_rate = lrt_eval(r, &l->rate, "limit_rate");
	if (r->limit_rate > 0)
		r->limit_rate_after = lrt_eval(r, &l->after, "limit_rate_after");
	return PT_OK;
}

/* $limit_rate: the rate of the response, bytes per second (0: none) */
static int
lrt_var(struct pt_request *r, void *data, struct pt_str *out)
{
	char *p = pt_palloc(r->pool, 24);

	(void)data;
	out->data = p;
	out->len = (size_t)(pt_fmt_u64(p, (uint64_t)r->limit_rate) - p);
	return PT_OK;
}

static const struct pt_var_def lrt_variables[] = {
	{ "limit_rate", PT_VAR_NOCACHE, lrt_var, NULL },
	PT_VAR_DEF_END
};

static int
lrt_postconfig(struct pt_cycle *cycle)
{
	/* early: later filters (add_header) may read $limit_rate */
	return pt_http_filter_add(cycle, 100, lrt_header_filter);
}

struct pt_module pt_mod_limit_rate = {
	.name = "limit_rate",
	.directives = lrt_directives,
	.conf_size = { [PT_LEVEL_LOC] = sizeof(struct lrt_loc) },
	.conf_merge = lrt_conf_merge,
	.postconfig = lrt_postconfig,
	.variables = lrt_variables,
};
