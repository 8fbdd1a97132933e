/*
 * headers_module.c: response fields set by the configuration, on every
 * response portico sends (files, return, errors, proxied):
 *   add_header NAME VALUE [always]     nginx's: appended to responses with
 *                                      2xx/3xx codes nginx lists, or to
 *                                      all with "always"
 *   headers_out set NAME VALUE         portico's: replace (or add) a field,
 *   headers_out add NAME VALUE         including one from the upstream;
 *   headers_out remove NAME            add another; remove every instance
 * Both run as response header filters (pt_http_filter_add), headers_out
 * after add_header. A level that writes any add_header (or headers_out)
 * replaces the inherited list, as in nginx.
 */
#include "portico.h"

enum hd_op { HD_ADD, HD_SET, HD_APPEND, HD_REMOVE };

struct hd_rule {
	enum hd_op		 op;
	struct pt_str		 name;		/* as written */
	struct pt_cv		*value;		/* NULL for remove */
	unsigned		 always:1;	/* add_header ... always */
};

struct hd_loc {
	struct pt_array		*add;		/* add_header rules; NULL = inherited */
	struct pt_array		*out;		/* headers_out rules; NULL = inherited */
};

extern struct pt_module pt_mod_headers;

/* fields portico writes itself: headers_out cannot change them */
static const char *const hd_reserved[] = { "server", "date", "content-length",
	"transfer-encoding", "connection", NULL };

static struct pt_array *
hd_array(struct pt_conf_ctx *cf, struct pt_array **a)
{
	if (*a == NULL) {
		*a = pt_palloc(cf->pool, sizeof(**a));
		pt_array_init(*a, cf->pool, 2, sizeof(struct hd_rule));
	}
	return *a;
}

static const char *
hd_add_header(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct hd_loc *hl = conf;
	const struct pt_conf_node *n = cf->node;
	struct hd_rule *rule;
	const char *err = NULL;

	if (n->nargs == 3 && strcmp(n->args[2], "always") != 0)
		return pt_psprintf(cf->pool, "invalid parameter \"%s\"", n->args[2]);
	if (n->args[0][0] == '\0' || strpbrk(n->args[0], ": \t\r\n") != NULL)
		return pt_psprintf(cf->pool, "invalid field name \"%s\" in \"%s\"", n->args[0],
		    d->name);
	rule = pt_array_push(hd_array(cf, &hl->add));
	rule->op = HD_ADD;
	rule->name.data = pt_pstrdup(cf->pool, n->args[0]);
	rule->name.len = strlen(n->args[0]);
	rule->always = n->nargs == 3;
	if ((rule->value = pt_cv_compile(cf, n->args[1], &err)) == NULL)
		return err;
	return NULL;
}

static const char *
hd_headers_out(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct hd_loc *hl = conf;
	const struct pt_conf_node *n = cf->node;
	const char *op = n->args[0], *err = NULL;
	struct hd_rule *rule;
	char lc[64];
	size_t i;

	(void)d;
	rule = pt_array_push(hd_array(cf, &hl->out));
	if (strcmp(op, "set") == 0)
		rule->op = HD_SET;
	else if (strcmp(op, "add") == 0)
		rule->op = HD_APPEND;
	else if (strcmp(op, "remove") == 0)
		rule->op = HD_REMOVE;
	else
		return pt_psprintf(cf->pool, "invalid operation \"%s\": set, add or remove", op);
	if (n->nargs != (rule->op == HD_REMOVE ? 2 : 3))
		return pt_psprintf(cf->pool, "\"%s\" takes %s", op, rule->op == HD_REMOVE ?
		    "a field name" : "a field name and a value");
	if (n->args[1][0] == '\0' || strpbrk(n->args[1], ": \t\r\n") != NULL)
		return pt_psprintf(cf->pool, "invalid field name \"%s\"", n->args[1]);
	for (i = 0; n->args[1][i] != '\0' && i < sizeof(lc) - 1; i++)
		lc[i] = (char)(n->args[1][i] >= 'A' && n->args[1][i] <= 'Z' ? n->args[1][i] + 32 :
		    n->args[1][i]);
	lc[i] = '\0';
	for (i = 0; hd_reserved[i] != NULL; i++)
		if (strcmp(lc, hd_reserved[i]) == 0)
			return pt_psprintf(cf->pool, "the field \"%s\" is written by portico itself",
			    n->args[1]);
	rule->name.data = pt_pstrdup(cf->pool, n->args[1]);
	rule->name.len = strlen(n->args[1]);
	if (rule->op != HD_REMOVE && (rule->value = pt_cv_compile(cf, n->args[2], &err)) == NULL)
		return err;
	return NULL;
}

static const struct pt_directive hd_directives[] = {
	{ "add_header", PT_CTX_HTTP_ANY | PT_CTX_IF, PT_D_MULTI, 0, 2, 3, PT_LEVEL_LOC,
	  PT_NO_OFFSET, hd_add_header, NULL, NULL,
	  "add a response field (2xx/3xx responses unless \"always\")" },
	{ "headers_out", PT_CTX_HTTP_ANY | PT_CTX_IF, PT_D_MULTI, 0, 2, 3, PT_LEVEL_LOC,
	  PT_NO_OFFSET, hd_headers_out, NULL, NULL,
	  "set, add or remove any response field, upstream ones included" },
	PT_DIRECTIVE_END
};

static const char *
hd_conf_merge(struct pt_conf_ctx *cf, enum pt_conf_level level, void *parent, void *child)
{
	struct hd_loc *p = parent, *c = child;

	(void)cf;
	if (level == PT_LEVEL_LOC && p != NULL) {
		if (c->add == NULL)
			c->add = p->add;
		if (c->out == NULL)
			c->out = p->out;
	}
	return NULL;
}

/*---- runtime (worker) ----*/

/* the codes nginx's add_header applies to without "always" */
static int
hd_status_ok(int status)
{
	switch (status) {
	case 200: case 201: case 204: case 206: case 301: case 302: case 303: case 304:
	case 307: case 308:
		return 1;
	}
	return 0;
}

static int
hd_add_filter(struct pt_request *r)
{
	struct hd_loc *hl = pt_http_loc_conf(r, &pt_mod_headers);
	int status = r->err_status ? r->err_status : r->status ? r->status : 200;
	size_t i;

	if (hl == NULL || hl->add == NULL)
		return PT_OK;
	for (i = 0; i < hl->add->nelts; i++) {
		struct hd_rule *rule = (struct hd_rule *)hl->add->elts + i;
		struct pt_str v;

		if (!rule->always && !hd_status_ok(status))
			continue;
		pt_cv_eval(r, rule->value, &v);
		if (v.len > 0)
			pt_http_out_add(r, rule->name, v);
	}
	return PT_OK;
}

static int
hd_name_eq(struct pt_str a, struct pt_str b)
{
	size_t i;

	if (a.len != b.len)
		return 0;
	for (i = 0; i < a.len; i++) {
		char x = a.data[i], y = b.data[i];

		if (x >= 'A' && x <= 'Z')
			x = (char)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (char)(y + 32);
		if (x != y)
			return 0;
	}
	return 1;
}

static int
hd_out_filter(struct pt_request *r)
{
	struct hd_loc *hl = pt_http_loc_conf(r, &pt_mod_headers);
	size_t i, k;

	if (hl == NULL || hl->out == NULL)
		return PT_OK;
	for (i = 0; i < hl->out->nelts; i++) {
		struct hd_rule *rule = (struct hd_rule *)hl->out->elts + i;
		int ctype = rule->name.len == 12 &&
		    pt_strncasecmp_lc(rule->name.data, "content-type", 12) == 0;
		struct pt_str v = PT_NULL_STR;
		int done = 0;

		if (rule->op != HD_REMOVE)
			pt_cv_eval(r, rule->value, &v);
		if (rule->op == HD_APPEND) {
			if (v.len > 0)
				pt_http_out_add(r, rule->name, v);
			continue;
		}
		if (ctype && rule->op == HD_SET && r->content_type.len > 0 && v.len > 0) {
			/* a type of portico's own (file, return) is not a field yet */
			r->content_type = v;
			done = 1;
		} else if (ctype) {
			r->content_type = PT_NULL_STR;
		}
		for (k = 0; k < r->out_fields.nelts; k++) {
			struct pt_http_out_field *f = (struct pt_http_out_field *)r->out_fields.elts + k;

			if (!hd_name_eq(f->name, rule->name))
				continue;
			if (rule->op == HD_SET && !done && v.len > 0) {
				f->value = v;		/* the first one takes the value */
				done = 1;
			} else
				f->name.len = 0;	/* others (and remove) are dropped */
		}
		if (rule->op == HD_SET && !done && v.len > 0)
			pt_http_out_add(r, rule->name, v);
	}
	return PT_OK;
}

static int
hd_postconfig(struct pt_cycle *cycle)
{
	if (pt_http_filter_add(cycle, 700, hd_add_filter) != PT_OK ||
	    pt_http_filter_add(cycle, 800, hd_out_filter) != PT_OK)
		return PT_ERROR;
	return PT_OK;
}

struct pt_module pt_mod_headers = {
	.name = "headers",
	.directives = hd_directives,
	.conf_size = { [PT_LEVEL_LOC] = sizeof(struct hd_loc) },
	.conf_merge = hd_conf_merge,
	.postconfig = hd_postconfig,
};
