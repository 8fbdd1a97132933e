/*
 * proxy_headers.c: what happens to the upstream's response fields on
 * their way to the client: proxy_hide_header, proxy_pass_header,
 * proxy_ignore_headers, proxy_redirect (Location and Refresh),
 * proxy_cookie_domain and proxy_cookie_path (Set-Cookie). A module of
 * its own (directives and location conf), called once per response by
 * proxy_module.c after it has copied the upstream fields into
 * r->out_fields: pt_proxy_headers_upstream().
 */
#include "proxy.h"

extern struct pt_module pt_mod_proxy_headers;

/* a FROM TO pair of proxy_redirect / proxy_cookie_* */
struct ph_rule {
	struct pt_str		 from;		/* literal prefix (domain: without a leading dot) */
	struct pt_cv		*to;		/* replacement, may hold variables */
	unsigned		 is_default:1;	/* proxy_redirect default */
};

struct ph_loc {
	struct pt_array		*hide;		/* struct pt_str, lowercase; NULL = inherited */
	struct pt_array		*pass;		/* struct pt_str, lowercase; NULL = inherited */
	struct pt_array		*ignore;	/* struct pt_str, lowercase; NULL = inherited */
	struct pt_array		*redirect;	/* struct ph_rule; empty = off; NULL = inherited */
	struct pt_array		*cookie_domain;	/* struct ph_rule; empty = off */
	struct pt_array		*cookie_path;	/* struct ph_rule; empty = off */
};

/* hidden unless proxy_pass_header names them (Date and Server are never relayed) */
static const char *const ph_hidden_default[] = { "x-pad", "x-accel-expires",
	"x-accel-redirect", "x-accel-limit-rate", "x-accel-buffering", "x-accel-charset", NULL };

static const char *const ph_ignorable[] = { "x-accel-redirect", "x-accel-expires",
	"x-accel-limit-rate", "x-accel-buffering", "x-accel-charset", "expires",
	"cache-control", "set-cookie", "vary", NULL };

/*---- configuration (master) ----*/

static struct pt_array *
ph_array(struct pt_conf_ctx *cf, struct pt_array **a, size_t size)
{
	if (*a == NULL) {
		*a = pt_palloc(cf->pool, sizeof(**a));
		pt_array_init(*a, cf->pool, 2, size);
	}
	return *a;
}

static struct pt_str
ph_lower(struct pt_conf_ctx *cf, const char *s)
{
	char *p = pt_pstrdup(cf->pool, s), *q;

	for (q = p; *q; q++)
		*q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
	return (struct pt_str){ strlen(p), p };
}

static const char *
ph_names(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct ph_loc *pl = conf;
	struct pt_array *a;
	int i, k;

	a = ph_array(cf, d->name[6] == 'h' ? &pl->hide : d->name[6] == 'p' ? &pl->pass :
	    &pl->ignore, sizeof(struct pt_str));
	for (i = 0; i < cf->node->nargs; i++) {
		struct pt_str n = ph_lower(cf, cf->node->args[i]);

		if (d->name[6] == 'i') {
			for (k = 0; ph_ignorable[k] != NULL; k++)
				if (strcmp(ph_ignorable[k], n.data) == 0)
					break;
			if (ph_ignorable[k] == NULL)
				return pt_psprintf(cf->pool, "invalid value \"%s\"", cf->node->args[i]);
		}
		*(struct pt_str *)pt_array_push(a) = n;
	}
	return NULL;
}

static const char *
ph_rules(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct ph_loc *pl = conf;
	const struct pt_conf_node *n = cf->node;
	int redirect = strcmp(d->name, "proxy_redirect") == 0;
	int domain = strcmp(d->name, "proxy_cookie_domain") == 0;
	struct pt_array **slot = redirect ? &pl->redirect : domain ? &pl->cookie_domain :
	    &pl->cookie_path;
	struct ph_rule *rule;
	const char *err = NULL, *from;

	if (n->nargs == 1) {
		if (strcmp(n->args[0], "off") == 0) {
			if (*slot != NULL && (*slot)->nelts > 0)
				return "\"off\" cannot be mixed with other rules at one level";
			ph_array(cf, slot, sizeof(struct ph_rule));
			return NULL;
		}
		if (redirect && strcmp(n->args[0], "default") == 0) {
			rule = pt_array_push(ph_array(cf, slot, sizeof(struct ph_rule)));
			rule->is_default = 1;
			return NULL;
		}
		return pt_psprintf(cf->pool, "invalid parameter \"%s\"", n->args[0]);
	}
	if (n->args[0][0] == '~')
		return pt_psprintf(cf->pool, "regular expressions in \"%s\" are not supported",
		    d->name);
	from = n->args[0];
	if (domain && from[0] == '.')
		from++;
	rule = pt_array_push(ph_array(cf, slot, sizeof(struct ph_rule)));
	rule->from = domain ? ph_lower(cf, from) : (struct pt_str){ strlen(from),
	    pt_pstrdup(cf->pool, from) };
	if ((rule->to = pt_cv_compile(cf, n->args[1], &err)) == NULL)
		return err;
	return NULL;
}

static const struct pt_directive ph_directives[] = {
	{ "proxy_hide_header", PT_CTX_HTTP_ANY, PT_D_MULTI, 0, 1, 1, PT_LEVEL_LOC, PT_NO_OFFSET,
	  ph_names, NULL, NULL, "do not relay this upstream response field" },
	{ "proxy_pass_header", PT_CTX_HTTP_ANY, PT_D_MULTI, 0, 1, 1, PT_LEVEL_LOC, PT_NO_OFFSET,
	  ph_names, NULL, NULL, "relay a response field hidden by default (X-Accel-*, X-Pad)" },
	{ "proxy_ignore_headers", PT_CTX_HTTP_ANY, PT_D_MULTI, 0, 1, PT_D_ARGS_ANY, PT_LEVEL_LOC,
	  PT_NO_OFFSET, ph_names, NULL, NULL, "upstream fields whose special meaning is ignored" },
	{ "proxy_redirect", PT_CTX_HTTP_ANY, PT_D_MULTI, 0, 1, 2, PT_LEVEL_LOC, PT_NO_OFFSET,
	  ph_rules, NULL, NULL, "rewrite Location and Refresh: default, off or FROM TO" },
	{ "proxy_cookie_domain", PT_CTX_HTTP_ANY, PT_D_MULTI, 0, 1, 2, PT_LEVEL_LOC, PT_NO_OFFSET,
	  ph_rules, NULL, NULL, "rewrite the domain of Set-Cookie: off or FROM TO" },
	{ "proxy_cookie_path", PT_CTX_HTTP_ANY, PT_D_MULTI, 0, 1, 2, PT_LEVEL_LOC, PT_NO_OFFSET,
	  ph_rules, NULL, NULL, "rewrite the path prefix of Set-Cookie: off or FROM TO" },
	PT_DIRECTIVE_END
};

static const char *
ph_conf_merge(struct pt_conf_ctx *cf, enum pt_conf_level level, void *parent, void *child)
{
	struct ph_loc *p = parent, *c = child;

	if (level != PT_LEVEL_LOC)
		return NULL;
	/* nginx: a level that writes any of a kind replaces the inherited list */
	if (p != NULL) {
		if (c->hide == NULL)
			c->hide = p->hide;
		if (c->pass == NULL)
			c->pass = p->pass;
		if (c->ignore == NULL)
			c->ignore = p->ignore;
		if (c->redirect == NULL)
			c->redirect = p->redirect;
		if (c->cookie_domain == NULL)
			c->cookie_domain = p->cookie_domain;
		if (c->cookie_path == NULL)
			c->cookie_path = p->cookie_path;
	} else if (c->redirect == NULL) {
		struct ph_rule *rule = pt_array_push(ph_array(cf, &c->redirect, sizeof(*rule)));

		rule->is_default = 1;
	}
	return NULL;
}

struct pt_module pt_mod_proxy_headers = {
	.name = "proxy_headers",
	.directives = ph_directives,
	.conf_size = { [PT_LEVEL_LOC] = sizeof(struct ph_loc) },
	.conf_merge = ph_conf_merge,
};

/*---- runtime (worker) ----*/

static int
ph_listed(const struct pt_array *a, struct pt_str name)
{
	size_t i;

	for (i = 0; a != NULL && i < a->nelts; i++) {
		const struct pt_str *s = (const struct pt_str *)a->elts + i;

		if (s->len == name.len && pt_strncasecmp_lc(name.data, s->data, s->len) == 0)
			return 1;
	}
	return 0;
}

/* the FROM/TO of "proxy_redirect default" for the location's proxy_pass */
static int
ph_default_rule(struct pt_request *r, struct proxy_loc *px, struct pt_str *from,
    struct pt_str *to)
{
	/* none with variables in proxy_pass (nginx) */
	if (px == NULL || px->host.len == 0 || px->url != NULL)
		return 0;
	from->data = pt_psprintf(r->pool, "%s://%.*s%.*s", px->ssl ? "https" : "http",
	    (int)px->host.len, px->host.data, px->has_uri ? (int)px->uri.len : 1,
	    px->has_uri ? px->uri.data : "/");
	from->len = strlen(from->data);
	*to = px->has_uri ? px->loc_name : PT_STR("/");
	return 1;
}

/* apply the proxy_redirect rules to the URL at [url, url + len) of <v> */
static int
ph_redirect(struct pt_request *r, struct ph_loc *hl, struct proxy_loc *px, struct pt_str *v,
    size_t at)
{
	struct pt_str url = { v->len - at, v->data + at }, from, to;
	size_t i;

	for (i = 0; i < hl->redirect->nelts; i++) {
		struct ph_rule *rule = (struct ph_rule *)hl->redirect->elts + i;

		if (rule->is_default) {
			if (!ph_default_rule(r, px, &from, &to))
				continue;
		} else {
			from = rule->from;
			pt_cv_eval(r, rule->to, &to);
		}
		if (url.len < from.len || memcmp(url.data, from.data, from.len) != 0)
			continue;
		{
			char *p = pt_palloc(r->pool, at + to.len + url.len - from.len + 1);

			memcpy(p, v->data, at);
			memcpy(p + at, to.data, to.len);
			memcpy(p + at + to.len, url.data + from.len, url.len - from.len);
			v->len = at + to.len + url.len - from.len;
			p[v->len] = '\0';
			v->data = p;
		}
		return 1;
	}
	return 0;
}

/* rewrite the Domain or Path attribute of the Set-Cookie value <v> */
static void
ph_cookie(struct pt_request *r, const struct pt_array *rules, const char *attr, int domain,
    struct pt_str *v)
{
	const char *p = v->data, *end = p + v->len, *semi, *a, *val;
	size_t alen = strlen(attr), i;

	/* the first pair is NAME=VALUE: attributes follow each ';' */
	while ((semi = memchr(p, ';', (size_t)(end - p))) != NULL) {
		const char *vend;
		struct pt_str cur;

		for (a = semi + 1; a < end && (*a == ' ' || *a == '\t'); a++)
			;
		p = a;
		vend = memchr(a, ';', (size_t)(end - a));
		if (vend == NULL)
			vend = end;
		if ((size_t)(vend - a) <= alen || pt_strncasecmp_lc(a, attr, alen) != 0 ||
		    a[alen] != '=')
			continue;
		val = a + alen + 1;
		cur.data = val;
		cur.len = (size_t)(vend - val);
		while (cur.len > 0 && (cur.data[cur.len - 1] == ' ' || cur.data[cur.len - 1] == '\t'))
			cur.len--;
		if (domain && cur.len > 0 && cur.data[0] == '.') {
			cur.data++;
			cur.len--;
		}
		for (i = 0; i < rules->nelts; i++) {
			struct ph_rule *rule = (struct ph_rule *)rules->elts + i;
			struct pt_str to;
			size_t keep;
			char *out, *o;

			if (domain ? cur.len != rule->from.len ||
			    pt_strncasecmp_lc(cur.data, rule->from.data, cur.len) != 0 :
			    cur.len < rule->from.len || memcmp(cur.data, rule->from.data,
			    rule->from.len) != 0)
				continue;
			pt_cv_eval(r, rule->to, &to);
			keep = domain ? cur.len : rule->from.len;	/* bytes replaced */
			out = pt_palloc(r->pool, v->len + to.len + 1);
			o = pt_cpymem(out, v->data, (size_t)(cur.data - v->data));
			o = pt_cpymem(o, to.data, to.len);
			o = pt_cpymem(o, cur.data + keep, (size_t)(end - cur.data - keep));
			v->data = out;
			v->len = (size_t)(o - out);
			return;
		}
		return;
	}
}

void
pt_proxy_headers_upstream(struct pt_request *r, struct proxy_loc *px)
{
	struct ph_loc *hl = pt_http_loc_conf(r, &pt_mod_proxy_headers);
	size_t i;
	int k;

	for (i = 0; i < r->out_fields.nelts; i++) {
		struct pt_http_out_field *f = (struct pt_http_out_field *)r->out_fields.elts + i;
		int hidden = ph_listed(hl->hide, f->name);

		for (k = 0; !hidden && ph_hidden_default[k] != NULL; k++)
			if (pt_str_eq_lc(f->name, ph_hidden_default[k]) &&
			    !ph_listed(hl->pass, f->name))
				hidden = 1;
		if (hidden) {
			f->name.len = 0;	/* skipped by pt_http_send_header */
			continue;
		}
		if (hl->redirect->nelts > 0 && pt_str_eq_lc(f->name, "location")) {
			ph_redirect(r, hl, px, &f->value, 0);
		} else if (hl->redirect->nelts > 0 && pt_str_eq_lc(f->name, "refresh")) {
			/* "5; url=http://..." */
			const char *u = f->value.data, *e = u + f->value.len;

			for (; u + 4 <= e; u++)
				if (pt_strncasecmp_lc(u, "url=", 4) == 0) {
					ph_redirect(r, hl, px, &f->value,
					    (size_t)(u + 4 - f->value.data));
					break;
				}
		} else if (pt_str_eq_lc(f->name, "set-cookie")) {
			if (hl->cookie_domain != NULL && hl->cookie_domain->nelts > 0)
				ph_cookie(r, hl->cookie_domain, "domain", 1, &f->value);
			if (hl->cookie_path != NULL && hl->cookie_path->nelts > 0)
				ph_cookie(r, hl->cookie_path, "path", 0, &f->value);
		}
	}
}
