/*
 * var.c: variables and complex values.
 *
 * Variables are declared statically by modules (struct pt_module.variables)
 * and resolved by name at configuration time: a complex value ("cv") is a
 * string compiled once into literal parts and getter calls, and evaluated
 * per request into the request pool. Getters never allocate outside
 * r->pool; most return pointers into request or connection memory.
 *
 * This file also holds the http core variables (pt_http_core_variables),
 * which the http core module publishes through its <variables> field.
 */
#include <netinet/in.h>
#include <unistd.h>

#include "portico.h"
#include "regex.h"

#define VAR_CV_STACK	16	/* parts evaluated without a pool array */

static int	var_dyn_lookup(struct pt_conf_ctx *, struct pt_str, pt_var_get_fn *, void **);

/*---- resolution and compilation (master, config time) ----*/

/* a byte allowed in a variable name */
static inline int
var_is_name_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '_';
}

/*
 * Resolve <name> (without '$'): an exact name of any module first, then
 * the longest prefix variable that <name> extends with a non-empty
 * suffix. Names compare case-insensitively (all declared names are
 * lowercase). For a prefix variable, *data becomes a struct pt_str with
 * the lowercased suffix, allocated from cf->pool. Returns PT_OK, or
 * PT_DECLINED when no module declares such a variable.
 */
int
pt_var_lookup(struct pt_conf_ctx *cf, struct pt_str name, pt_var_get_fn *get, void **data)
{
	const struct pt_var_def *d, *best = NULL;
	struct pt_str *sfx;
	size_t n, best_len = 0, i;
	char *s;
	int m;

	if (name.len == 0)
		return PT_DECLINED;
	for (m = 0; m < pt_nmodules; m++) {
		if (pt_modules[m]->variables == NULL)
			continue;
		for (d = pt_modules[m]->variables; d->name != NULL; d++) {
			n = strlen(d->name);
			if (d->flags & PT_VAR_PREFIX) {
				if (name.len > n && n > best_len &&
				    pt_strncasecmp_lc(name.data, d->name, n) == 0) {
					best = d;
					best_len = n;
				}
				continue;
			}
			if (n == name.len && pt_strncasecmp_lc(name.data, d->name, n) == 0) {
				*get = d->get;
				*data = d->data;
				return PT_OK;
			}
		}
	}
	if (best == NULL)
		return var_dyn_lookup(cf, name, get, data);

	sfx = pt_palloc(cf->pool, sizeof(*sfx));
	s = pt_palloc(cf->pool, name.len - best_len + 1);
	for (i = best_len; i < name.len; i++) {
		unsigned char ch = (unsigned char)name.data[i];

		s[i - best_len] = (ch >= 'A' && ch <= 'Z') ? (char)(ch | 0x20) : (char)ch;
	}
	s[name.len - best_len] = '\0';
	sfx->data = s;
	sfx->len = name.len - best_len;
	*get = best->get;
	*data = sfx;
	return PT_OK;
}

/*
 * Startup check (master): every variable name, exact or prefix, is
 * declared by one module only. Returns PT_OK, or PT_ERROR after logging
 * each clash at emerg.
 */
int
pt_var_check(void)
{
	const struct pt_var_def *a, *b;
	int i, j, rc = PT_OK;

	for (i = 0; i < pt_nmodules; i++) {
		if (pt_modules[i]->variables == NULL)
			continue;
		for (a = pt_modules[i]->variables; a->name != NULL; a++) {
			for (j = i; j < pt_nmodules; j++) {
				if (pt_modules[j]->variables == NULL)
					continue;
				b = (j == i) ? a + 1 : pt_modules[j]->variables;
				for (; b->name != NULL; b++) {
					if ((a->flags & PT_VAR_PREFIX) != (b->flags & PT_VAR_PREFIX) ||
					    strcmp(a->name, b->name) != 0)
						continue;
					pt_log(PT_LOG_EMERG, 0,
					    "variable \"$%s%s\" is declared twice (modules %s and %s)",
					    a->name, (a->flags & PT_VAR_PREFIX) ? "*" : "",
					    pt_modules[i]->name, pt_modules[j]->name);
					rc = PT_ERROR;
				}
			}
		}
	}
	return rc;
}

/*---- variables defined by the configuration (set, map, captures) ----*/

/*
 * A name defined by a directive rather than by a module table: set $x,
 * map ... $x, split_clients ... $x, a named regex capture. Complex values
 * may use such a name before the directive that defines it is read
 * (nginx allows "set" after its use in another location); the entry is
 * then created undefined with the place of that use, and
 * pt_var_check_defined() reports it if nothing defined it.
 */
#define VAR_HTTP(cycle)	((struct pt_http_main *)(cycle)->http)

struct pt_var_dyn {
	struct pt_str		 name;		/* lowercase */
	pt_var_get_fn		 get;		/* NULL while undefined */
	void			*data;
	const char		*file;		/* first use while undefined */
	int			 line;
	struct pt_var_dyn	*next;
};

static struct pt_var_dyn *
var_dyn_find(struct pt_conf_ctx *cf, struct pt_str name)
{
	struct pt_var_dyn *v;

	if (cf->cycle->http == NULL)
		return NULL;
	for (v = VAR_HTTP(cf->cycle)->vars; v != NULL; v = v->next)
		if (v->name.len == name.len && pt_strncasecmp_lc(name.data, v->name.data,
		    name.len) == 0)
			return v;
	return NULL;
}

static struct pt_var_dyn *
var_dyn_add(struct pt_conf_ctx *cf, struct pt_str name)
{
	struct pt_var_dyn *v = pt_pcalloc(cf->pool, sizeof(*v));
	char *s = pt_pstrndup(cf->pool, name.data, name.len), *p;

	for (p = s; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p |= 0x20;
	v->name.data = s;
	v->name.len = name.len;
	v->next = VAR_HTTP(cf->cycle)->vars;
	VAR_HTTP(cf->cycle)->vars = v;
	return v;
}

static int
var_dyn_get(struct pt_request *r, void *data, struct pt_str *out)
{
	const struct pt_var_dyn *v = data;

	return v->get(r, v->data, out);
}

/* the getter of a defined configuration variable, or PT_DECLINED */
static int
var_dyn_lookup(struct pt_conf_ctx *cf, struct pt_str name, pt_var_get_fn *get, void **data)
{
	struct pt_var_dyn *v = var_dyn_find(cf, name);

	if (v == NULL)
		return PT_DECLINED;
	*get = var_dyn_get;
	*data = v;
	return PT_OK;
}

/* an unknown name inside the http block: a forward reference, checked later */
static int
var_dyn_pending(struct pt_conf_ctx *cf, struct pt_str name, pt_var_get_fn *get, void **data)
{
	struct pt_var_dyn *v;

	if (cf->cycle->http == NULL || cf->node == NULL || name.len == 0 ||
	    (name.data[0] >= '0' && name.data[0] <= '9'))
		return PT_DECLINED;
	v = var_dyn_add(cf, name);
	v->file = cf->node->file;
	v->line = cf->node->line;
	*get = var_dyn_get;
	*data = v;
	return PT_OK;
}

int
pt_var_define(struct pt_conf_ctx *cf, struct pt_str name, pt_var_get_fn get, void *data)
{
	struct pt_var_dyn *v;
	int m;

	if (cf->cycle->http == NULL)
		return PT_ERROR;
	/* a module's variable cannot be redefined ($uri, $http_x, ...) */
	for (m = 0; m < pt_nmodules; m++) {
		const struct pt_var_def *vd;

		if (pt_modules[m]->variables == NULL)
			continue;
		for (vd = pt_modules[m]->variables; vd->name != NULL; vd++)
			if (!(vd->flags & PT_VAR_PREFIX) && strlen(vd->name) == name.len &&
			    pt_strncasecmp_lc(name.data, vd->name, name.len) == 0)
				return PT_DECLINED;
	}
	v = var_dyn_find(cf, name);
	if (v == NULL)
		v = var_dyn_add(cf, name);
	if (v->get == NULL) {
		v->get = get;
		v->data = data;
		return PT_OK;
	}
	return v->get == get ? PT_OK : PT_DECLINED;
}

void *
pt_var_defined_data(struct pt_conf_ctx *cf, struct pt_str name, pt_var_get_fn get)
{
	struct pt_var_dyn *v = var_dyn_find(cf, name);

	return v != NULL && v->get == get ? v->data : NULL;
}

int
pt_var_check_defined(struct pt_cycle *cycle)
{
	struct pt_var_dyn *v;
	int rc = PT_OK;

	if (cycle->http == NULL)
		return PT_OK;
	for (v = VAR_HTTP(cycle)->vars; v != NULL; v = v->next) {
		if (v->get != NULL)
			continue;
		pt_log(PT_LOG_EMERG, 0, "%s:%d: unknown variable \"$%.*s\"", v->file, v->line,
		    (int)v->name.len, v->name.data);
		rc = PT_ERROR;
	}
	return rc;
}

/*
 * Compile <text> into a complex value allocated from cf->pool. "$name"
 * takes the longest run of [A-Za-z0-9_]; "${name}" delimits the name so
 * letters may follow; a '$' not followed by a name is literal. Returns the
 * cv, or NULL with *err set (allocated from cf->pool) for an unknown
 * variable or a malformed "${...}". A text without variables compiles to
 * one literal part with is_const set.
 */
struct pt_cv *
pt_cv_compile(struct pt_conf_ctx *cf, const char *text, const char **err)
{
	struct pt_cv *cv;
	struct pt_cv_part *part;
	const char *p, *lit, *name, *end;
	size_t len, nname, max, nd = 0;
	char *src;
	int nvars = 0;

	len = strlen(text);
	src = pt_pstrndup(cf->pool, text, len);
	for (p = src; *p != '\0'; p++)
		if (*p == '$')
			nd++;

	cv = pt_pcalloc(cf->pool, sizeof(*cv));
	cv->raw.data = src;
	cv->raw.len = len;
	max = 2 * nd + 1;
	cv->parts = pt_pcalloc(cf->pool, max * sizeof(*cv->parts));

	lit = src;
	p = src;
	while (*p != '\0') {
		if (*p != '$') {
			p++;
			continue;
		}
		if (p[1] == '{') {
			name = p + 2;
			for (end = name; *end != '\0' && *end != '}'; end++)
				;
			if (*end == '\0') {
				*err = pt_psprintf(cf->pool,
				    "the closing bracket in \"%.*s\" variable is missing",
				    (int)(end - name), name);
				return NULL;
			}
			nname = (size_t)(end - name);
			for (size_t i = 0; i < nname; i++) {
				if (!var_is_name_char((unsigned char)name[i])) {
					nname = 0;
					break;
				}
			}
			if (nname == 0) {
				*err = pt_psprintf(cf->pool, "invalid variable name \"${%.*s}\"",
				    (int)(end - name), name);
				return NULL;
			}
			end++;
		} else if (p[1] >= '0' && p[1] <= '9') {
			/* $1..$9: one digit, as nginx ("$1st" is $1 then "st") */
			name = p + 1;
			end = name + 1;
			nname = 1;
		} else if (var_is_name_char((unsigned char)p[1])) {
			name = p + 1;
			for (end = name; var_is_name_char((unsigned char)*end); end++)
				;
			nname = (size_t)(end - name);
		} else {
			p++;		/* a lone '$' stays in the literal */
			continue;
		}

		if (p > lit) {
			part = &cv->parts[cv->nparts++];
			part->lit.data = lit;
			part->lit.len = (size_t)(p - lit);
		}
		part = &cv->parts[cv->nparts];
		if (pt_var_lookup(cf, (struct pt_str){ nname, name }, &part->get,
		    &part->data) != PT_OK && var_dyn_pending(cf, (struct pt_str){ nname, name },
		    &part->get, &part->data) != PT_OK) {
			*err = pt_psprintf(cf->pool, "unknown variable \"$%.*s\"", (int)nname, name);
			return NULL;
		}
		cv->nparts++;
		nvars++;
		p = end;
		lit = p;
	}

	if (nvars == 0) {
		cv->parts[0].lit = cv->raw;
		cv->parts[0].get = NULL;
		cv->nparts = 1;
		cv->is_const = 1;
		return cv;
	}
	if (p > lit) {
		part = &cv->parts[cv->nparts++];
		part->lit.data = lit;
		part->lit.len = (size_t)(p - lit);
	}
	return cv;
}

/*---- evaluation (worker, per request) ----*/

/*
 * Evaluate <cv> for <r> into <out>. A constant or a lone variable costs no
 * copy; otherwise one allocation from r->pool of the summed length (plus a
 * NUL). Variables without a value (PT_DECLINED) are empty. Never fails.
 */
void
pt_cv_eval(struct pt_request *r, const struct pt_cv *cv, struct pt_str *out)
{
	struct pt_str stackv[VAR_CV_STACK], *v;
	const struct pt_cv_part *part;
	size_t total = 0;
	char *p;
	int i, n = cv->nparts;

	if (cv->is_const) {
		*out = cv->parts[0].lit;
		return;
	}
	if (n == 1) {
		if (cv->parts[0].get(r, cv->parts[0].data, out) != PT_OK)
			*out = PT_STR("");
		return;
	}

	v = pt_likely(n <= VAR_CV_STACK) ? stackv : pt_palloc(r->pool, (size_t)n * sizeof(*v));
	for (i = 0, part = cv->parts; i < n; i++, part++) {
		if (part->get == NULL)
			v[i] = part->lit;
		else if (part->get(r, part->data, &v[i]) != PT_OK)
			v[i].len = 0;
		total += v[i].len;
	}

	p = pt_palloc(r->pool, total + 1);
	out->data = p;
	out->len = total;
	for (i = 0; i < n; i++) {
		if (v[i].len != 0) {
			memcpy(p, v[i].data, v[i].len);
			p += v[i].len;
		}
	}
	*p = '\0';
}

/*---- helpers for getters ----*/

/* <v> in decimal, allocated from r->pool */
static int
var_uint(struct pt_request *r, uint64_t v, struct pt_str *out)
{
	char tmp[20], *p = tmp + sizeof(tmp), *d;
	size_t n;

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	n = (size_t)(tmp + sizeof(tmp) - p);
	d = pt_palloc(r->pool, n);
	memcpy(d, p, n);
	out->data = d;
	out->len = n;
	return PT_OK;
}

/* <ms> as seconds with millisecond resolution: "12.345" */
static int
var_msec(struct pt_request *r, pt_msec_t ms, struct pt_str *out)
{
	char *d = pt_palloc(r->pool, 32);
	int n;

	n = snprintf(d, 32, "%llu.%03u", (unsigned long long)(ms / 1000), (unsigned)(ms % 1000));
	out->data = d;
	out->len = (size_t)n;
	return PT_OK;
}

/* <s> as the value; PT_DECLINED when empty */
static inline int
var_str(struct pt_str s, struct pt_str *out)
{
	if (s.len == 0)
		return PT_DECLINED;
	*out = s;
	return PT_OK;
}

/*
 * Host and port of <sa> as separate strings. Uses sa->text ("1.2.3.4:80",
 * "[::1]:80") when it is filled, pointing into it; otherwise formats into
 * r->pool.
 */
static void
var_addr_split(struct pt_request *r, const struct pt_sockaddr *sa, struct pt_str *host,
    struct pt_str *port)
{
	const char *t = sa->text, *colon, *rb;
	char *buf;

	if (t[0] == '[' && (rb = strchr(t, ']')) != NULL) {
		host->data = t + 1;
		host->len = (size_t)(rb - t - 1);
		port->data = rb[1] == ':' ? rb + 2 : rb + 1;
		port->len = strlen(port->data);
		return;
	}
	if (t[0] != '\0' && (colon = strchr(t, ':')) != NULL && strchr(colon + 1, ':') == NULL) {
		host->data = t;
		host->len = (size_t)(colon - t);
		port->data = colon + 1;
		port->len = strlen(colon + 1);
		return;
	}
	buf = pt_palloc(r->pool, 64);
	host->len = pt_sockaddr_host(sa, buf, 64);
	host->data = buf;
	port->len = 0;
	port->data = "";
	if (pt_sockaddr_port(sa) > 0) {
		buf = pt_palloc(r->pool, 8);
		port->len = (size_t)snprintf(buf, 8, "%d", pt_sockaddr_port(sa));
		port->data = buf;
	}
}

/* header field name <name> is the variable suffix <sfx> ('-' as '_') */
static inline int
var_field_match(struct pt_str name, const struct pt_str *sfx)
{
	size_t i;

	if (name.len != sfx->len)
		return 0;
	for (i = 0; i < name.len; i++) {
		unsigned char ch = (unsigned char)name.data[i];

		if (ch >= 'A' && ch <= 'Z')
			ch |= 0x20;
		else if (ch == '-')
			ch = '_';
		if (ch != (unsigned char)sfx->data[i])
			return 0;
	}
	return 1;
}

/*
 * The value of field <sfx> in <h>: the first one, or when <sep> is not
 * NULL, all of them joined with <sep> (in r->pool when there are several).
 */
static int
var_head_field(struct pt_request *r, const struct pt_http_head *h, const struct pt_str *sfx,
    const char *sep, struct pt_str *out)
{
	const struct pt_http_field *f;
	size_t total = 0, seplen;
	int i, first = -1, count = 0;
	char *p;

	for (i = 0, f = h->fields; i < h->nfields; i++, f++) {
		if (!var_field_match(f->name, sfx))
			continue;
		if (first < 0) {
			first = i;
			if (sep == NULL)
				break;
		}
		count++;
		total += f->value.len;
	}
	if (first < 0)
		return PT_DECLINED;
	if (count <= 1) {
		*out = h->fields[first].value;
		return PT_OK;
	}

	seplen = strlen(sep);
	total += seplen * (size_t)(count - 1);
	p = pt_palloc(r->pool, total);
	out->data = p;
	out->len = total;
	for (i = first, f = h->fields + first; i < h->nfields; i++, f++) {
		if (!var_field_match(f->name, sfx))
			continue;
		if (p != out->data) {
			memcpy(p, sep, seplen);
			p += seplen;
		}
		memcpy(p, f->value.data, f->value.len);
		p += f->value.len;
	}
	return PT_OK;
}

/* the request's field <id> (a well-known one), first occurrence */
static int
var_known_field(struct pt_request *r, enum pt_http_field_id id, struct pt_str *out)
{
	int i = r->head.idx[id];

	if (i < 0 || r->head.fields == NULL)
		return PT_DECLINED;
	*out = r->head.fields[i].value;
	return PT_OK;
}

/*---- core variable getters (worker) ----*/

static int
var_remote_addr(struct pt_request *r, void *data, struct pt_str *out)
{
	struct pt_str port;

	(void)data;
	var_addr_split(r, pt_http_client_addr(r), out, &port);
	return PT_OK;
}

static int
var_remote_port(struct pt_request *r, void *data, struct pt_str *out)
{
	struct pt_str host;

	(void)data;
	var_addr_split(r, pt_http_client_addr(r), &host, out);
	return PT_OK;
}

static int
var_binary_remote_addr(struct pt_request *r, void *data, struct pt_str *out)
{
	const union pt_sa *ss = &pt_http_client_addr(r)->sa;

	(void)data;
	if (ss->ss_family == AF_INET) {
		out->data = (const char *)&((const struct sockaddr_in *)ss)->sin_addr;
		out->len = 4;
	} else if (ss->ss_family == AF_INET6) {
		out->data = (const char *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
		out->len = 16;
	} else {
		*out = PT_STR("");
	}
	return PT_OK;
}

static int
var_server_addr(struct pt_request *r, void *data, struct pt_str *out)
{
	struct pt_str port;

	(void)data;
	pt_conn_local_addr(r->c);
	var_addr_split(r, &r->c->local, out, &port);
	return PT_OK;
}

static int
var_server_port(struct pt_request *r, void *data, struct pt_str *out)
{
	struct pt_str host;

	(void)data;
	pt_conn_local_addr(r->c);
	var_addr_split(r, &r->c->local, &host, out);
	return PT_OK;
}

static int
var_scheme(struct pt_request *r, void *data, struct pt_str *out)
{
	(void)data;
	if (r->c->listener != NULL && r->c->listener->ssl)
		*out = PT_STR("https");
	else
		*out = PT_STR("http");
	return PT_OK;
}

static int
var_host(struct pt_request *r, void *data, struct pt_str *out)
{
	char **names;

	(void)data;
	if (r->host.len != 0) {
		*out = r->host;
		return PT_OK;
	}
	/* no Host: the server's first name (nginx) */
	if (r->srv != NULL && r->srv->names.nelts > 0) {
		names = r->srv->names.elts;
		out->data = names[0];
		out->len = strlen(names[0]);
		return PT_OK;
	}
	*out = PT_STR("");
	return PT_OK;
}

static int
var_hostname(struct pt_request *r, void *data, struct pt_str *out)
{
	static char name[256];
	static size_t len;

	(void)r;
	(void)data;
	if (len == 0) {
		if (gethostname(name, sizeof(name) - 1) != 0)
			strcpy(name, "localhost");
		name[sizeof(name) - 1] = '\0';
		len = strlen(name);
	}
	out->data = name;
	out->len = len;
	return PT_OK;
}

static int
var_pid(struct pt_request *r, void *data, struct pt_str *out)
{
	(void)data;
	return var_uint(r, (uint64_t)getpid(), out);
}

/* a struct pt_str member of the request at offset <data>; declined if empty */
static int
var_request_str(struct pt_request *r, void *data, struct pt_str *out)
{
	return var_str(*(const struct pt_str *)(void *)((char *)r + (uintptr_t)data), out);
}

static int
var_args(struct pt_request *r, void *data, struct pt_str *out)
{
	(void)data;
	if (r->args.data == NULL && r->args.len == 0)
		return PT_DECLINED;
	*out = r->args;
	return PT_OK;
}

static int
var_is_args(struct pt_request *r, void *data, struct pt_str *out)
{
	(void)data;
	*out = r->args.len != 0 ? PT_STR("?") : PT_STR("");
	return PT_OK;
}

/* $arg_NAME: the first NAME=value of the query, raw; NAME without case */
static int
var_arg(struct pt_request *r, void *data, struct pt_str *out)
{
	const struct pt_str *name = data;
	const char *p = r->args.data, *end = p + r->args.len, *v;

	if (r->args.len == 0)
		return PT_DECLINED;
	while (p < end) {
		if ((size_t)(end - p) > name->len && p[name->len] == '=' &&
		    pt_strncasecmp_lc(p, name->data, name->len) == 0) {
			v = p + name->len + 1;
			for (p = v; p < end && *p != '&'; p++)
				;
			out->data = v;
			out->len = (size_t)(p - v);
			return PT_OK;
		}
		p = memchr(p, '&', (size_t)(end - p));
		if (p == NULL)
			break;
		p++;
	}
	return PT_DECLINED;
}

/* $http_NAME; Cookie and X-Forwarded-For fields are joined */
static int
var_http(struct pt_request *r, void *data, struct pt_str *out)
{
	const struct pt_str *sfx = data;
	const char *sep = NULL;

	if (sfx->len == 6 && memcmp(sfx->data, "cookie", 6) == 0)
		sep = "; ";
	else if (sfx->len == 15 && memcmp(sfx->data, "x_forwarded_for", 15) == 0)
		sep = ", ";
	return var_head_field(r, &r->head, sfx, sep, out);
}

/* $cookie_NAME: the value of cookie NAME (name without case) */
static int
var_cookie(struct pt_request *r, void *data, struct pt_str *out)
{
	const struct pt_str *name = data;
	const struct pt_http_field *f;
	const char *p, *end, *v;
	int i;

	for (i = 0, f = r->head.fields; i < r->head.nfields; i++, f++) {
		if (f->id != PT_HF_COOKIE)
			continue;
		p = f->value.data;
		end = p + f->value.len;
		while (p < end) {
			while (p < end && (*p == ' ' || *p == '\t' || *p == ';'))
				p++;
			if ((size_t)(end - p) > name->len && p[name->len] == '=' &&
			    pt_strncasecmp_lc(p, name->data, name->len) == 0) {
				v = p + name->len + 1;
				for (p = v; p < end && *p != ';'; p++)
					;
				while (p > v && (p[-1] == ' ' || p[-1] == '\t'))
					p--;
				out->data = v;
				out->len = (size_t)(p - v);
				return PT_OK;
			}
			while (p < end && *p != ';')
				p++;
		}
	}
	return PT_DECLINED;
}

/* $sent_http_NAME: a response field, with Content-Type/-Length from the request */
static int
var_sent_http(struct pt_request *r, void *data, struct pt_str *out)
{
	const struct pt_str *sfx = data;
	const struct pt_http_out_field *f = r->out_fields.elts;
	size_t i;

	for (i = 0; i < r->out_fields.nelts; i++) {
		if (var_field_match(f[i].name, sfx)) {
			*out = f[i].value;
			return PT_OK;
		}
	}
	if (sfx->len == 12 && memcmp(sfx->data, "content_type", 12) == 0)
		return var_str(r->content_type, out);
	if (sfx->len == 14 && memcmp(sfx->data, "content_length", 14) == 0 &&
	    r->out_length >= 0)
		return var_uint(r, (uint64_t)r->out_length, out);
	return PT_DECLINED;
}

/* $upstream_http_NAME: a field of the upstream response head */
static int
var_upstream_http(struct pt_request *r, void *data, struct pt_str *out)
{
	if (r->upstream_head == NULL)
		return PT_DECLINED;
	return var_head_field(r, r->upstream_head, data, NULL, out);
}

static int
var_status(struct pt_request *r, void *data, struct pt_str *out)
{
	char *d = pt_palloc(r->pool, 4);
	unsigned s = (r->status > 0 && r->status < 1000) ? (unsigned)r->status : 0;

	(void)data;
	d[0] = (char)('0' + s / 100);
	d[1] = (char)('0' + s / 10 % 10);
	d[2] = (char)('0' + s % 10);
	d[3] = '\0';
	out->data = d;
	out->len = 3;
	return PT_OK;
}

static int
var_body_bytes_sent(struct pt_request *r, void *data, struct pt_str *out)
{
	(void)data;
	return var_uint(r, r->body_bytes_sent, out);
}

static int
var_bytes_sent(struct pt_request *r, void *data, struct pt_str *out)
{
	(void)data;
	return var_uint(r, r->body_bytes_sent + r->header_bytes, out);
}

static int
var_request_length(struct pt_request *r, void *data, struct pt_str *out)
{
	(void)data;
	return var_uint(r, r->request_length, out);
}

static int
var_request_time(struct pt_request *r, void *data, struct pt_str *out)
{
	(void)data;
	return var_msec(r, pt_current_msec > r->start_msec ? pt_current_msec - r->start_msec : 0,
	    out);
}

static int
var_msec_now(struct pt_request *r, void *data, struct pt_str *out)
{
	(void)data;
	return var_msec(r, pt_current_msec, out);
}

/* a cached time string (core.c) copied into the request pool */
static int
var_time(struct pt_request *r, void *data, struct pt_str *out)
{
	const char *t = data;
	size_t n = strlen(t);

	out->data = pt_pstrndup(r->pool, t, n);
	out->len = n;
	return PT_OK;
}

static int
var_connection(struct pt_request *r, void *data, struct pt_str *out)
{
	(void)data;
	return var_uint(r, r->c->number, out);
}

static int
var_connection_requests(struct pt_request *r, void *data, struct pt_str *out)
{
	(void)data;
	return var_uint(r, r->hc != NULL ? r->hc->nrequests : 1, out);
}

static int
var_content_length(struct pt_request *r, void *data, struct pt_str *out)
{
	(void)data;
	return var_known_field(r, PT_HF_CONTENT_LENGTH, out);
}

static int
var_content_type(struct pt_request *r, void *data, struct pt_str *out)
{
	(void)data;
	return var_known_field(r, PT_HF_CONTENT_TYPE, out);
}

static int
var_server_name(struct pt_request *r, void *data, struct pt_str *out)
{
	char **names;

	(void)data;
	if (r->srv == NULL || r->srv->names.nelts == 0) {
		*out = PT_STR("");
		return PT_OK;
	}
	names = r->srv->names.elts;
	out->data = names[0];
	out->len = strlen(names[0]);
	return PT_OK;
}

static int
var_server_protocol(struct pt_request *r, void *data, struct pt_str *out)
{
	(void)data;
	if (r->version == 11)
		*out = PT_STR("HTTP/1.1");
	else if (r->version == 10)
		*out = PT_STR("HTTP/1.0");
	else
		return PT_DECLINED;
	return PT_OK;
}

/* the X-Forwarded-For fields joined with ", ", then ", " and $remote_addr */
static int
var_proxy_add_xff(struct pt_request *r, void *data, struct pt_str *out)
{
	static const struct pt_str xff = { 15, "x_forwarded_for" };
	struct pt_str prev, addr, port;
	char *p;

	(void)data;
	var_addr_split(r, pt_http_client_addr(r), &addr, &port);
	if (var_head_field(r, &r->head, &xff, ", ", &prev) != PT_OK) {
		*out = addr;
		return PT_OK;
	}
	p = pt_palloc(r->pool, prev.len + 2 + addr.len);
	out->data = p;
	out->len = prev.len + 2 + addr.len;
	memcpy(p, prev.data, prev.len);
	p += prev.len;
	*p++ = ',';
	*p++ = ' ';
	memcpy(p, addr.data, addr.len);
	return PT_OK;
}

static int
var_close_reason(struct pt_request *r, void *data, struct pt_str *out)
{
	const char *s;

	(void)data;
	if ((unsigned)r->close_reason >= PT_CLOSE_MAX)
		return PT_DECLINED;
	s = pt_close_codes[r->close_reason];
	out->data = s;
	out->len = strlen(s);
	return PT_OK;
}

#define VAR_REQ(name, field) \
	{ name, 0, var_request_str, (void *)offsetof(struct pt_request, field) }

/* the http core module's variables (its <variables> field points here) */
const struct pt_var_def pt_http_core_variables[] = {
	{ "remote_addr",		0, var_remote_addr,		NULL },
	{ "remote_port",		0, var_remote_port,		NULL },
	{ "binary_remote_addr",		0, var_binary_remote_addr,	NULL },
	{ "server_addr",		0, var_server_addr,		NULL },
	{ "server_port",		0, var_server_port,		NULL },
	{ "scheme",			0, var_scheme,			NULL },
	{ "host",			0, var_host,			NULL },
	{ "hostname",			0, var_hostname,		NULL },
	{ "pid",			0, var_pid,			NULL },
	VAR_REQ("request",		request_line),
	VAR_REQ("request_method",	method),
	VAR_REQ("request_uri",		unparsed_uri),
	{ "uri",			PT_VAR_NOCACHE, var_request_str,
	    (void *)offsetof(struct pt_request, uri) },
	{ "document_uri",		PT_VAR_NOCACHE, var_request_str,
	    (void *)offsetof(struct pt_request, uri) },
	{ "args",			PT_VAR_NOCACHE, var_args,	NULL },
	{ "query_string",		PT_VAR_NOCACHE, var_args,	NULL },
	{ "is_args",			PT_VAR_NOCACHE, var_is_args,	NULL },
	{ "arg_",			PT_VAR_PREFIX, var_arg,		NULL },
	{ "http_",			PT_VAR_PREFIX, var_http,	NULL },
	{ "cookie_",			PT_VAR_PREFIX, var_cookie,	NULL },
	{ "sent_http_",			PT_VAR_PREFIX | PT_VAR_NOCACHE, var_sent_http, NULL },
	{ "upstream_http_",		PT_VAR_PREFIX | PT_VAR_NOCACHE, var_upstream_http, NULL },
	{ "status",			PT_VAR_NOCACHE, var_status,	NULL },
	{ "body_bytes_sent",		PT_VAR_NOCACHE, var_body_bytes_sent, NULL },
	{ "bytes_sent",			PT_VAR_NOCACHE, var_bytes_sent,	NULL },
	{ "request_length",		PT_VAR_NOCACHE, var_request_length, NULL },
	{ "request_time",		PT_VAR_NOCACHE, var_request_time, NULL },
	{ "msec",			PT_VAR_NOCACHE, var_msec_now,	NULL },
	{ "time_local",			PT_VAR_NOCACHE, var_time,	pt_time_local },
	{ "time_iso8601",		PT_VAR_NOCACHE, var_time,	pt_time_iso8601 },
	{ "connection",			0, var_connection,		NULL },
	{ "connection_requests",	0, var_connection_requests,	NULL },
	{ "content_length",		0, var_content_length,		NULL },
	{ "content_type",		0, var_content_type,		NULL },
	{ "server_name",		0, var_server_name,		NULL },
	{ "server_protocol",		0, var_server_protocol,		NULL },
	{ "upstream_addr",		PT_VAR_NOCACHE, var_request_str,
	    (void *)offsetof(struct pt_request, upstream_addr) },
	{ "upstream_status",		PT_VAR_NOCACHE, var_request_str,
	    (void *)offsetof(struct pt_request, upstream_status) },
	{ "upstream_response_time",	PT_VAR_NOCACHE, var_request_str,
	    (void *)offsetof(struct pt_request, upstream_response_time) },
	{ "upstream_connect_time",	PT_VAR_NOCACHE, var_request_str,
	    (void *)offsetof(struct pt_request, upstream_connect_time) },
	{ "upstream_header_time",	PT_VAR_NOCACHE, var_request_str,
	    (void *)offsetof(struct pt_request, upstream_header_time) },
	{ "proxy_host",			PT_VAR_NOCACHE, var_request_str,
	    (void *)offsetof(struct pt_request, proxy_host) },
	{ "proxy_add_x_forwarded_for",	0, var_proxy_add_xff,		NULL },
	{ "close_reason",		PT_VAR_NOCACHE, var_close_reason, NULL },
	/* captures of the last regex match (worker/regex.c) */
#define VAR_CAPTURE(n)	{ #n, PT_VAR_NOCACHE, pt_regex_var_capture, (void *)(intptr_t)n }
	VAR_CAPTURE(0), VAR_CAPTURE(1), VAR_CAPTURE(2), VAR_CAPTURE(3), VAR_CAPTURE(4),
	VAR_CAPTURE(5), VAR_CAPTURE(6), VAR_CAPTURE(7), VAR_CAPTURE(8), VAR_CAPTURE(9),
#undef VAR_CAPTURE
	PT_VAR_DEF_END
};
