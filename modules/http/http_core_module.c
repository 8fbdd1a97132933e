/*
 * http_core_module.c: the http, server, location and listen blocks, the
 * client-side limits and timeouts, and the tables used at run time to
 * pick a server (by listening address and Host) and a location.
 */
#include <sys/socket.h>
#include <netinet/in.h>

#include "portico.h"
#include "regex.h"

static const char *http_core_block(struct pt_conf_ctx *, const struct pt_directive *, void *);
static const char *http_core_server(struct pt_conf_ctx *, const struct pt_directive *, void *);
static const char *http_core_location(struct pt_conf_ctx *, const struct pt_directive *, void *);
static const char *http_core_listen(struct pt_conf_ctx *, const struct pt_directive *, void *);
static const char *http_core_server_name(struct pt_conf_ctx *, const struct pt_directive *, void *);
static const char *http_core_error_page(struct pt_conf_ctx *, const struct pt_directive *, void *);
static const char *http_core_share_wildcards(struct pt_conf_ctx *);
static const char *http_core_internal(struct pt_conf_ctx *, const struct pt_directive *, void *);

#define SRV(f)	offsetof(struct pt_http_srv, f)

/* a request line or field must fit in a large buffer: keep them usable */
static const size_t http_core_min_line = 128;
#define LOC(f)	offsetof(struct pt_http_loc, f)

static const struct pt_directive http_core_directives[] = {
	{ "http", PT_CTX_MAIN, PT_D_BLOCK, PT_CTX_HTTP, 0, 0, PT_LEVEL_NONE, PT_NO_OFFSET,
	  http_core_block, NULL, NULL, "the HTTP servers, upstreams and their settings" },
	{ "server", PT_CTX_HTTP, PT_D_BLOCK | PT_D_MULTI, PT_CTX_SERVER, 0, 0, PT_LEVEL_NONE,
	  PT_NO_OFFSET, http_core_server, NULL, NULL, "a virtual server" },
	{ "location", PT_CTX_SERVER | PT_CTX_LOCATION, PT_D_BLOCK | PT_D_MULTI, PT_CTX_LOCATION,
	  1, 2, PT_LEVEL_NONE, PT_NO_OFFSET, http_core_location, NULL, NULL,
	  "settings for request URIs matching a prefix, an exact URI, a regex, or a name (@name)" },
	{ "listen", PT_CTX_SERVER, PT_D_MULTI, 0, 1, PT_D_ARGS_ANY, PT_LEVEL_SRV, PT_NO_OFFSET,
	  http_core_listen, "*:80", NULL, "address and port to accept connections on" },
	{ "server_name", PT_CTX_SERVER, PT_D_MULTI, 0, 1, PT_D_ARGS_ANY, PT_LEVEL_SRV, PT_NO_OFFSET,
	  http_core_server_name, "\"\"", NULL, "names of the virtual server (exact, wildcard or ~regex)" },
	{ "client_header_timeout", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV,
	  SRV(client_header_timeout), pt_conf_set_msec, "60s", NULL,
	  "time to receive a whole request head" },
	{ "client_header_buffer_size", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV,
	  SRV(client_header_buffer_size), pt_conf_set_size, "1k", NULL,
	  "first buffer for a request head" },
	{ "large_client_header_buffers", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 2, 2, PT_LEVEL_SRV,
	  SRV(large_buffers), pt_conf_set_bufs, "4 8k", &http_core_min_line,
	  "request line and field size limit, and head limit (number x size)" },
	{ "keepalive_timeout", PT_CTX_HTTP_ANY, 0, 0, 1, 2, PT_LEVEL_LOC, LOC(keepalive_timeout),
	  pt_conf_set_msec, "75s", NULL,
	  "idle time of a kept-alive client connection (a second argument is accepted, unused)" },
	{ "keepalive_requests", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, LOC(keepalive_requests),
	  pt_conf_set_num, "1000", NULL, "requests served on one client connection" },
	{ "client_body_timeout", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, LOC(client_body_timeout),
	  pt_conf_set_msec, "60s", NULL, "time between two reads of a request body" },
	{ "send_timeout", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, LOC(send_timeout),
	  pt_conf_set_msec, "60s", NULL, "time between two writes to the client" },
	{ "client_max_body_size", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC,
	  LOC(client_max_body_size), pt_conf_set_size, "1m", NULL,
	  "largest request body accepted, 0 for no limit" },
	{ "client_body_buffer_size", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC,
	  LOC(client_body_buffer_size), pt_conf_set_size, "16k", NULL,
	  "buffer for reading a request body" },
	{ "server_tokens", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, LOC(server_tokens),
	  pt_conf_set_flag, "on", NULL, "send the version in the Server field" },
	{ "default_type", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, LOC(default_type),
	  pt_conf_set_str, "text/plain", NULL, "Content-Type of generated text responses" },
	{ "error_page", PT_CTX_HTTP_ANY, PT_D_MULTI, 0, 2, PT_D_ARGS_ANY, PT_LEVEL_LOC, PT_NO_OFFSET,
	  http_core_error_page, NULL, NULL, "internal redirect to a URI for the given statuses" },
	{ "internal", PT_CTX_LOCATION, 0, 0, 0, 0, PT_LEVEL_LOC, PT_NO_OFFSET, http_core_internal,
	  NULL, NULL, "the location serves internal redirects only" },
	PT_DIRECTIVE_END
};

/*---- configuration (master) ----*/

/* report an error found after the block was read, at <file>:<line> */
static const char *
http_core_error_at(struct pt_conf_ctx *cf, const char *file, int line, const char *msg)
{
	const struct pt_conf_node *saved = cf->node;
	struct pt_conf_node at = { .name = "http", .file = file, .line = line };

	cf->node = &at;
	pt_conf_error(cf, "%s", msg);
	cf->node = saved;
	return "";
}

static void
http_core_conf_create(struct pt_conf_ctx *cf, enum pt_conf_level level, void *conf)
{
	if (level == PT_LEVEL_SRV) {
		struct pt_http_srv *s = conf;

		pt_array_init(&s->listens, cf->pool, 2, sizeof(struct pt_http_listen));
		pt_array_init(&s->names, cf->pool, 2, sizeof(char *));
		s->max_fields = 100;
	} else if (level == PT_LEVEL_LOC) {
		struct pt_http_loc *l = conf;

		pt_array_init(&l->children, cf->pool, 2, sizeof(struct pt_http_loc *));
		l->name = "";
	}
}

static const char *
http_core_conf_merge(struct pt_conf_ctx *cf, enum pt_conf_level level, void *parent, void *child)
{
	if (level == PT_LEVEL_LOC) {
		struct pt_http_loc *p = parent, *l = child;

		if (l->error_pages == NULL && p != NULL)
			l->error_pages = p->error_pages;
		/* an if block serves with the enclosing level's handler unless it has one */
		if (l->is_if && l->content == NULL && p != NULL)
			l->content = p->content;
	}
	(void)cf;
	return NULL;
}

static const char *
http_core_internal(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	(void)cf;
	(void)d;
	((struct pt_http_loc *)conf)->internal = 1;
	return NULL;
}

static const char *
http_core_error_page(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_http_loc *l = conf;
	const struct pt_conf_node *n = cf->node;
	int last = n->nargs - 1, overwrite = 0, i;
	long code;
	char *uri = n->args[last];

	if (uri[0] != '/' && uri[0] != '@')
		return pt_psprintf(cf->pool, "\"%s\" directive: only local URIs are supported, not \"%s\"",
		    d->name, uri);
	if (n->args[last - 1][0] == '=') {
		if (n->args[last - 1][1] == '\0')
			overwrite = -1;
		else if (pt_parse_int(n->args[last - 1] + 1, 100, 599, &code) == PT_OK)
			overwrite = (int)code;
		else
			return pt_psprintf(cf->pool, "invalid response code \"%s\" in \"%s\" directive",
			    n->args[last - 1] + 1, d->name);
		last--;
	}
	if (last < 1)
		return pt_psprintf(cf->pool, "invalid number of arguments in \"%s\" directive", d->name);
	if (l->error_pages == NULL) {
		l->error_pages = pt_palloc(cf->pool, sizeof(*l->error_pages));
		pt_array_init(l->error_pages, cf->pool, 4, sizeof(struct pt_http_error_page));
	}
	for (i = 0; i < last; i++) {
		struct pt_http_error_page *ep;

		if (pt_parse_int(n->args[i], 300, 599, &code) != PT_OK)
			return pt_psprintf(cf->pool, "invalid status \"%s\" in \"%s\" directive",
			    n->args[i], d->name);
		ep = pt_array_push(l->error_pages);
		ep->status = (int)code;
		ep->overwrite = overwrite;
		ep->uri = uri;
	}
	return NULL;
}

static const char *
http_core_listen(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_http_srv *s = conf;
	const struct pt_conf_node *n = cf->node;
	struct pt_http_listen *ls;
	struct pt_sockaddr addr[1];
	const char *err = NULL;
	int nadd, i;

	if (pt_sockaddr_parse(n->args[0], 80, addr, 1, &nadd, &err) != PT_OK)
		return pt_psprintf(cf->pool, "invalid address \"%s\" in \"%s\" directive: %s",
		    n->args[0], d->name, err);
	ls = pt_array_push(&s->listens);
	ls->addr = addr[0];
	ls->backlog = 511;
	ls->ipv6only = -1;
	for (i = 1; i < n->nargs; i++) {
		const char *a = n->args[i];
		long v;
		size_t sz;

		if (strcmp(a, "default_server") == 0 || strcmp(a, "default") == 0)
			ls->default_server = 1;
		else if (strncmp(a, "backlog=", 8) == 0 && pt_parse_int(a + 8, -1, 65535, &v) == PT_OK)
			ls->backlog = (int)v;
		else if (strncmp(a, "rcvbuf=", 7) == 0 && pt_parse_size(a + 7, &sz) == PT_OK)
			ls->rcvbuf = (int)sz;
		else if (strncmp(a, "sndbuf=", 7) == 0 && pt_parse_size(a + 7, &sz) == PT_OK)
			ls->sndbuf = (int)sz;
		else if (strcmp(a, "ipv6only=on") == 0)
			ls->ipv6only = 1;
		else if (strcmp(a, "ipv6only=off") == 0)
			ls->ipv6only = 0;
		else if (strcmp(a, "deferred") == 0)
			ls->deferred = 1;
		else if (strcmp(a, "reuseport") == 0)
			continue;	/* always on: one socket per worker */
		else if (strcmp(a, "ssl") == 0)
			ls->ssl = 1;
		else if (strcmp(a, "http2") == 0 || strcmp(a, "quic") == 0)
			return pt_psprintf(cf->pool, "the \"%s\" parameter of the \"%s\" directive is "
			    "not supported yet", a, d->name);
		else
			return pt_psprintf(cf->pool, "invalid parameter \"%s\" in \"%s\" directive",
			    a, d->name);
	}
	return NULL;
}

static const char *
http_core_server_name(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_http_srv *s = conf;
	int i;

	for (i = 0; i < cf->node->nargs; i++) {
		char *name = pt_pstrdup(cf->pool, cf->node->args[i]), *p;

		if (name[0] == '~') {
			const char *err = NULL;
			struct pt_regex *re = pt_regex_compile(cf, cf->node->args[i] + 1, 1, &err);

			if (re == NULL)
				return err;
			if (s->regex_names.elts == NULL)
				pt_array_init(&s->regex_names, cf->pool, 2, sizeof(struct pt_regex *));
			*(struct pt_regex **)pt_array_push(&s->regex_names) = re;
			continue;
		}
		if (strchr(name, '*') != NULL && !(strncmp(name, "*.", 2) == 0 && strchr(name + 1, '*') == NULL) &&
		    !(strlen(name) > 2 && strcmp(name + strlen(name) - 2, ".*") == 0 &&
		    strchr(name, '*') == name + strlen(name) - 1))
			return pt_psprintf(cf->pool, "invalid server name or wildcard \"%s\" in \"%s\" "
			    "directive", name, d->name);
		for (p = name; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p |= 0x20;
		*(char **)pt_array_push(&s->names) = name;
	}
	return NULL;
}

/* create the srv + loc levels for a server block and apply it */
static const char *
http_core_server(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_http_main *hm = cf->cycle->http;
	void **saved_srv = cf->srv_conf, **saved_loc = cf->loc_conf;
	struct pt_http_srv *s;
	int rc;

	(void)d;
	(void)conf;
	cf->srv_conf = pt_conf_create_level(cf, PT_LEVEL_SRV);
	cf->loc_conf = pt_conf_create_level(cf, PT_LEVEL_LOC);
	s = cf->srv_conf[pt_mod_http_core.index];
	s->srv_conf = cf->srv_conf;
	s->loc_conf = cf->loc_conf;
	s->root_loc = cf->loc_conf[pt_mod_http_core.index];
	s->root_loc->loc_conf = cf->loc_conf;
	s->file = cf->node->file;
	s->line = cf->node->line;
	*(struct pt_http_srv **)pt_array_push(&hm->servers) = s;
	rc = pt_conf_apply_block(cf, cf->node, PT_CTX_SERVER);
	cf->srv_conf = saved_srv;
	cf->loc_conf = saved_loc;
	return rc == PT_OK ? NULL : "";
}

static const char *
http_core_location(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const struct pt_conf_node *n = cf->node;
	void **saved = cf->loc_conf;
	struct pt_http_loc *parent = cf->loc_conf[pt_mod_http_core.index], *l;
	const char *mod = NULL, *uri;
	int rc;

	(void)conf;
	if (n->nargs == 2) {
		mod = n->args[0];
		uri = n->args[1];
	} else {
		uri = n->args[0];
		if (uri[0] == '=' && uri[1] != '\0') {
			mod = "=";
			uri++;
		} else if (uri[0] == '^' && uri[1] == '~' && uri[2] != '\0') {
			mod = "^~";
			uri += 2;
		} else if (uri[0] == '~' && uri[1] == '*' && uri[2] != '\0') {
			mod = "~*";
			uri += 2;
		} else if (uri[0] == '~' && uri[1] != '\0') {
			mod = "~";
			uri++;
		} else if (uri[0] == '@') {
			mod = "@";
		}
	}
	if (mod != NULL && strcmp(mod, "=") != 0 && strcmp(mod, "^~") != 0 &&
	    strcmp(mod, "~") != 0 && strcmp(mod, "~*") != 0 && strcmp(mod, "@") != 0)
		return pt_psprintf(cf->pool, "invalid location modifier \"%s\"", mod);
	if (n->nargs == 1 && uri[0] == '@')
		mod = "@";
	if (mod != NULL && mod[0] == '@') {
		if (uri[0] != '@' || uri[1] == '\0')
			return pt_psprintf(cf->pool, "invalid named location \"%s\"", uri);
		if (parent->name[0] != '\0' || parent->is_if)
			return pt_psprintf(cf->pool, "named location \"%s\" can be on the server "
			    "level only", uri);
	}
	if (parent->exact)
		return pt_psprintf(cf->pool, "location \"%s\" cannot be inside the exact location \"%s\"",
		    uri, parent->name);
	if (parent->named)
		return pt_psprintf(cf->pool, "location \"%s\" cannot be inside the named location "
		    "\"%s\"", uri, parent->name);
	if (parent->regex != NULL && (mod == NULL || mod[0] != '~'))
		return pt_psprintf(cf->pool, "location \"%s\" cannot be inside the regex location "
		    "\"%s\"", uri, parent->name);
	if (parent->name[0] != '\0' && parent->regex == NULL && (mod == NULL || mod[0] != '~') &&
	    strncmp(uri, parent->name, parent->name_len) != 0)
		return pt_psprintf(cf->pool, "location \"%s\" is outside location \"%s\"", uri,
		    parent->name);
	cf->loc_conf = pt_conf_create_level(cf, PT_LEVEL_LOC);
	l = cf->loc_conf[pt_mod_http_core.index];
	l->loc_conf = cf->loc_conf;
	l->name = pt_pstrdup(cf->pool, uri);
	l->name_len = strlen(uri);
	l->exact = mod != NULL && strcmp(mod, "=") == 0;
	l->noregex = mod != NULL && strcmp(mod, "^~") == 0;
	l->named = mod != NULL && mod[0] == '@';
	if (mod != NULL && mod[0] == '~') {
		const char *err = NULL;

		l->regex = pt_regex_compile(cf, uri, mod[1] == '*', &err);
		if (l->regex == NULL) {
			cf->loc_conf = saved;
			return err;
		}
	}
	l->file = n->file;
	l->line = n->line;
	*(struct pt_http_loc **)pt_array_push(&parent->children) = l;
	rc = pt_conf_apply_block(cf, n, PT_CTX_LOCATION);
	cf->loc_conf = saved;
	(void)d;
	return rc == PT_OK ? NULL : "";
}

/* merge every location below <parent> (loc confs) recursively */
static int
http_core_merge_locations(struct pt_conf_ctx *cf, struct pt_http_loc *parent)
{
	size_t i;

	for (i = 0; i < parent->children.nelts; i++) {
		struct pt_http_loc *l = ((struct pt_http_loc **)parent->children.elts)[i];

		if (pt_conf_merge_level(cf, PT_LEVEL_LOC, parent->loc_conf, l->loc_conf) != PT_OK)
			return PT_ERROR;
		if (http_core_merge_locations(cf, l) != PT_OK)
			return PT_ERROR;
	}
	return PT_OK;
}

static int
http_core_loc_cmp(const void *a, const void *b)
{
	return strcmp((*(struct pt_http_loc *const *)a)->name, (*(struct pt_http_loc *const *)b)->name);
}

/* the longest other prefix of each entry in the sorted table <t> */
static void
http_core_link_prefixes(struct pt_http_loc **t, int n)
{
	int i, j;

	/*
	 * Each prefix points at the longest other prefix that is a prefix of
	 * its name; in sorted order such entries come before it.
	 */
	for (i = 0; i < n; i++) {
		struct pt_http_loc *l = t[i];

		l->parent_prefix = NULL;
		for (j = i - 1; j >= 0; j--) {
			struct pt_http_loc *o = t[j];

			if (o->name_len < l->name_len && strncmp(o->name, l->name, o->name_len) == 0 &&
			    (l->parent_prefix == NULL || o->name_len > l->parent_prefix->name_len))
				l->parent_prefix = o;
		}
	}
}

/*
 * Lookup tables of the locations nested in <parent> (one level; each
 * nested location gets its own): exact and prefix sorted by name,
 * regexes in config order; @named ones go to the server's table.
 */
static const char *
http_core_build_level(struct pt_conf_ctx *cf, struct pt_http_srv *s, struct pt_http_loc *parent,
    struct pt_array *named)
{
	struct pt_array exact, prefix, regex;
	size_t i, j;
	const char *err;

	pt_array_init(&exact, cf->pool, 4, sizeof(struct pt_http_loc *));
	pt_array_init(&prefix, cf->pool, 4, sizeof(struct pt_http_loc *));
	pt_array_init(&regex, cf->pool, 4, sizeof(struct pt_http_loc *));
	for (i = 0; i < parent->children.nelts; i++) {
		struct pt_http_loc *l = ((struct pt_http_loc **)parent->children.elts)[i];
		struct pt_array *a;

		if (l->is_if)
			continue;
		a = l->named ? named : l->regex ? &regex : l->exact ? &exact : &prefix;
		if (a != &regex) {
			for (j = 0; j < a->nelts; j++) {
				struct pt_http_loc *o = ((struct pt_http_loc **)a->elts)[j];

				if (strcmp(o->name, l->name) == 0)
					return pt_psprintf(cf->pool, "%s:%d: duplicate location \"%s\"",
					    l->file, l->line, l->name);
			}
		}
		*(struct pt_http_loc **)pt_array_push(a) = l;
		err = http_core_build_level(cf, s, l, named);
		if (err)
			return err;
	}
	parent->exact_locs = exact.elts;
	parent->nexact_locs = (int)exact.nelts;
	parent->prefix_locs = prefix.elts;
	parent->nprefix_locs = (int)prefix.nelts;
	parent->regex_locs = regex.elts;
	parent->nregex_locs = (int)regex.nelts;
	qsort(parent->exact_locs, exact.nelts, sizeof(void *), http_core_loc_cmp);
	qsort(parent->prefix_locs, prefix.nelts, sizeof(void *), http_core_loc_cmp);
	http_core_link_prefixes(parent->prefix_locs, parent->nprefix_locs);
	return NULL;
}

/* per-level location tables and the server's @named table */
static const char *
http_core_build_locations(struct pt_conf_ctx *cf, struct pt_http_srv *s)
{
	struct pt_array named;
	const char *err;

	pt_array_init(&named, cf->pool, 2, sizeof(struct pt_http_loc *));
	err = http_core_build_level(cf, s, s->root_loc, &named);
	if (err)
		return err;
	s->exact = s->root_loc->exact_locs;
	s->nexact = s->root_loc->nexact_locs;
	s->prefix = s->root_loc->prefix_locs;
	s->nprefix = s->root_loc->nprefix_locs;
	s->named = named.elts;
	s->nnamed = (int)named.nelts;
	qsort(s->named, named.nelts, sizeof(void *), http_core_loc_cmp);
	return NULL;
}

static int
http_core_key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* group servers by listening address into cycle->listeners */
static const char *
http_core_build_listeners(struct pt_conf_ctx *cf, struct pt_http_main *hm)
{
	struct pt_cycle *cycle = cf->cycle;
	size_t i, j, k;

	for (i = 0; i < hm->servers.nelts; i++) {
		struct pt_http_srv *s = ((struct pt_http_srv **)hm->servers.elts)[i];

		if (s->listens.nelts == 0) {
			struct pt_http_listen *ls = pt_array_push(&s->listens);
			const char *err;
			int n;

			if (pt_sockaddr_parse("0.0.0.0:80", 80, &ls->addr, 1, &n, &err) != PT_OK)
				return err;
			ls->backlog = 511;
			ls->ipv6only = -1;
		}
		for (j = 0; j < s->listens.nelts; j++) {
			struct pt_http_listen *hl = (struct pt_http_listen *)s->listens.elts + j;
			struct pt_listener *pl = NULL;
			struct pt_http_addr_servers *as;

			for (k = 0; k < cycle->listeners.nelts; k++) {
				struct pt_listener *o = (struct pt_listener *)cycle->listeners.elts + k;

				if (o->addr.len == hl->addr.len &&
				    memcmp(&o->addr.sa, &hl->addr.sa, hl->addr.len) == 0) {
					pl = o;
					break;
				}
			}
			if (pl == NULL) {
				pl = pt_array_push(&cycle->listeners);
				pl->addr = hl->addr;
				pl->backlog = hl->backlog;
				pl->rcvbuf = hl->rcvbuf;
				pl->sndbuf = hl->sndbuf;
				pl->ipv6only = hl->ipv6only != 0;
				pl->deferred = hl->deferred;
				as = pt_pcalloc(cf->pool, sizeof(*as));
				pl->servers = as;
			}
			as = pl->servers;
			if (hl->ssl)
				pl->ssl = 1;
			if (hl->default_server) {
				if (as->explicit_default && as->default_server != s)
					return http_core_error_at(cf, s->file, s->line,
					    pt_psprintf(cf->pool, "a duplicate default server for %s",
					    hl->addr.text));
				as->default_server = s;
				as->explicit_default = 1;
				pl->backlog = hl->backlog;
			} else if (as->default_server == NULL)
				as->default_server = s;
		}
	}
	if (http_core_share_wildcards(cf) != NULL)
		return "";
	/* name tables per address */
	for (k = 0; k < cycle->listeners.nelts; k++) {
		struct pt_listener *pl = (struct pt_listener *)cycle->listeners.elts + k;
		struct pt_http_addr_servers *as = pl->servers;
		struct pt_array keys, wild, rx;

		pt_array_init(&keys, cf->pool, 8, sizeof(char *) * 2);
		pt_array_init(&wild, cf->pool, 8, sizeof(char *) * 2);
		pt_array_init(&rx, cf->pool, 2, sizeof(void *) * 2);
		for (i = 0; i < hm->servers.nelts; i++) {
			struct pt_http_srv *s = ((struct pt_http_srv **)hm->servers.elts)[i];
			int on = 0;

			for (j = 0; j < s->listens.nelts; j++) {
				struct pt_http_listen *hl = (struct pt_http_listen *)s->listens.elts + j;

				if (hl->addr.len == pl->addr.len && memcmp(&hl->addr.sa, &pl->addr.sa, pl->addr.len) == 0)
					on = 1;
			}
			if (!on)
				continue;
			for (j = 0; j < s->regex_names.nelts; j++) {
				void **e = pt_array_push(&rx);

				e[0] = ((struct pt_regex **)s->regex_names.elts)[j];
				e[1] = s;
			}
			for (j = 0; j < s->names.nelts; j++) {
				char *name = ((char **)s->names.elts)[j];
				void **e;
				size_t q;

				if (strchr(name, '*') != NULL || name[0] == '.') {
					e = pt_array_push(&wild);
				} else {
					int dup = 0;

					for (q = 0; q < keys.nelts; q++)
						if (strcmp(((char **)keys.elts)[2 * q], name) == 0)
							dup = 1;
					if (dup) {
						pt_log(PT_LOG_WARN, 0, "conflicting server name \"%s\" on %s, ignored",
						    name, pl->addr.text);
						continue;
					}
					e = pt_array_push(&keys);
				}
				e[0] = name;
				e[1] = s;
			}
		}
		qsort(keys.elts, keys.nelts, sizeof(char *) * 2, http_core_key_cmp);
		as->nexact = (int)keys.nelts;
		as->exact_keys = pt_palloc(cf->pool, sizeof(char *) * (keys.nelts + 1));
		as->exact_names = pt_palloc(cf->pool, sizeof(void *) * (keys.nelts + 1));
		for (i = 0; i < keys.nelts; i++) {
			as->exact_keys[i] = ((char **)keys.elts)[2 * i];
			as->exact_names[i] = ((void **)keys.elts)[2 * i + 1];
		}
		as->nwild = (int)wild.nelts;
		as->wild_keys = pt_palloc(cf->pool, sizeof(char *) * (wild.nelts + 1));
		as->wild_srv = pt_palloc(cf->pool, sizeof(void *) * (wild.nelts + 1));
		for (i = 0; i < wild.nelts; i++) {
			as->wild_keys[i] = ((char **)wild.elts)[2 * i];
			as->wild_srv[i] = ((void **)wild.elts)[2 * i + 1];
		}
		as->nregex = (int)rx.nelts;
		as->regex_keys = pt_palloc(cf->pool, sizeof(void *) * (rx.nelts + 1));
		as->regex_srv = pt_palloc(cf->pool, sizeof(void *) * (rx.nelts + 1));
		for (i = 0; i < rx.nelts; i++) {
			as->regex_keys[i] = ((void **)rx.elts)[2 * i];
			as->regex_srv[i] = ((void **)rx.elts)[2 * i + 1];
		}
	}
	return NULL;
}

static int
http_core_is_wildcard(const struct pt_sockaddr *a)
{
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;

	if (a->sa.ss_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)&a->sa)->sin_addr.s_addr ==
		    htonl(INADDR_ANY);
	if (a->sa.ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)(const void *)&a->sa)->sin6_addr,
		    &any6, sizeof(any6)) == 0;
	return 0;
}

/*
 * A port with both a wildcard and specific addresses is served by the
 * wildcard socket alone, as nginx does (two sockets would split the
 * traffic between them): each specific address keeps its own servers,
 * picked by the connection's local address. Runs before the name tables
 * are built, so the specific sets get theirs too; their listener entries
 * are marked (fds stays NULL, nfds -1) and dropped afterwards.
 */
static const char *
http_core_share_wildcards(struct pt_conf_ctx *cf)
{
	struct pt_listener *ls = cf->cycle->listeners.elts;
	size_t i, j, n = cf->cycle->listeners.nelts;

	for (i = 0; i < n; i++) {
		struct pt_http_addr_servers *w = ls[i].servers;

		if (!http_core_is_wildcard(&ls[i].addr))
			continue;
		for (j = 0; j < n; j++) {
			if (j == i || ls[j].nfds == -1 || http_core_is_wildcard(&ls[j].addr) ||
			    ls[j].addr.sa.ss_family != ls[i].addr.sa.ss_family ||
			    pt_sockaddr_port(&ls[j].addr) != pt_sockaddr_port(&ls[i].addr))
				continue;
			if (ls[j].ssl != ls[i].ssl)
				return http_core_error_at(cf, w->default_server->file,
				    w->default_server->line, pt_psprintf(cf->pool,
				    "%s and %s share a socket: both or neither must be \"ssl\"",
				    ls[i].addr.text, ls[j].addr.text));
			if (w->specific == NULL) {
				w->specific = pt_pcalloc(cf->pool, sizeof(*w->specific) * n);
				w->specific_addr = pt_pcalloc(cf->pool, sizeof(*w->specific_addr) * n);
			}
			w->specific[w->nspecific] = ls[j].servers;
			w->specific_addr[w->nspecific++] = ls[j].addr;
			ls[j].nfds = -1;
		}
	}
	return NULL;
}

/* drop the listener entries whose servers now ride on a wildcard socket */
static void
http_core_drop_shared(struct pt_cycle *cycle)
{
	struct pt_listener *ls = cycle->listeners.elts;
	size_t i, k = 0;

	for (i = 0; i < cycle->listeners.nelts; i++)
		if (ls[i].nfds != -1)
			ls[k++] = ls[i];
	cycle->listeners.nelts = k;
}

static const char *
http_core_block(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_http_main *hm;
	struct pt_http_srv *http_srv;
	size_t i;

	(void)d;
	(void)conf;
	hm = pt_pcalloc(cf->pool, sizeof(*hm));
	pt_array_init(&hm->servers, cf->pool, 4, sizeof(struct pt_http_srv *));
	pt_array_init(&hm->header_filters, cf->pool, 4, sizeof(void *) * 2);
	cf->cycle->http = hm;
	cf->http_conf = cf->cycle->http_conf;
	cf->srv_conf = pt_conf_create_level(cf, PT_LEVEL_SRV);
	cf->loc_conf = pt_conf_create_level(cf, PT_LEVEL_LOC);
	http_srv = cf->srv_conf[pt_mod_http_core.index];
	http_srv->loc_conf = cf->loc_conf;
	if (pt_conf_apply_block(cf, cf->node, PT_CTX_HTTP) != PT_OK)
		return "";
	cf->node = NULL;
	if (pt_conf_merge_level(cf, PT_LEVEL_SRV, NULL, cf->srv_conf) != PT_OK ||
	    pt_conf_merge_level(cf, PT_LEVEL_LOC, NULL, cf->loc_conf) != PT_OK)
		return "";
	for (i = 0; i < hm->servers.nelts; i++) {
		struct pt_http_srv *s = ((struct pt_http_srv **)hm->servers.elts)[i];

		if (pt_conf_merge_level(cf, PT_LEVEL_SRV, cf->srv_conf, s->srv_conf) != PT_OK ||
		    pt_conf_merge_level(cf, PT_LEVEL_LOC, cf->loc_conf, s->loc_conf) != PT_OK ||
		    http_core_merge_locations(cf, s->root_loc) != PT_OK)
			return "";
		if (http_core_build_locations(cf, s) != NULL)
			return "";
	}
	if (http_core_build_listeners(cf, hm) != NULL)
		return "";
	http_core_drop_shared(cf->cycle);
	return NULL;
}

static int
http_core_postconfig(struct pt_cycle *cycle)
{
	/* every module's variable table is known now: names must be unique */
	if (pt_var_check() != PT_OK)
		return PT_ERROR;
	/* and every variable used by a directive was defined by another */
	return pt_var_check_defined(cycle);
}

void
pt_http_server_captures(struct pt_request *r)
{
	size_t i;

	for (i = 0; i < r->srv->regex_names.nelts; i++)
		if (pt_regex_exec(r, ((struct pt_regex **)r->srv->regex_names.elts)[i], r->host) == 1)
			return;
}

/*---- runtime (worker) ----*/

/*
 * One level of the static search: the exact location for <uri> among
 * those nested in <parent> (*exact set), else the longest prefix. Binary
 * search finds the greatest prefix entry <= uri; the longest matching
 * prefix is that entry or one of its parent_prefix ancestors.
 */
static struct pt_http_loc *
http_core_static(const struct pt_http_loc *parent, struct pt_str uri, int *exact)
{
	int lo, hi, mid, c;
	struct pt_http_loc *l;

	*exact = 0;
	lo = 0;
	hi = parent->nexact_locs - 1;
	while (lo <= hi) {
		mid = (lo + hi) / 2;
		l = parent->exact_locs[mid];
		c = strncmp(l->name, uri.data, uri.len);
		if (c == 0 && l->name_len != uri.len)
			c = 1;
		if (c == 0) {
			*exact = 1;
			return l;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	/* greatest entry whose name compares <= uri */
	lo = 0;
	hi = parent->nprefix_locs - 1;
	l = NULL;
	while (lo <= hi) {
		struct pt_http_loc *m;
		size_t n;

		mid = (lo + hi) / 2;
		m = parent->prefix_locs[mid];
		n = PT_MIN(m->name_len, uri.len);
		c = memcmp(m->name, uri.data, n);
		if (c == 0 && m->name_len > uri.len)
			c = 1;
		if (c <= 0) {
			l = m;
			lo = mid + 1;
		} else
			hi = mid - 1;
	}
	for (; l != NULL; l = l->parent_prefix)
		if (l->name_len <= uri.len && memcmp(l->name, uri.data, l->name_len) == 0)
			return l;
	return NULL;
}

#define LOC_FINAL	1	/* no regex of an enclosing level may be tried */
#define LOC_GO_ON	0

/*
 * nginx's search at the level of <parent> (see pt_http_find_loc): the
 * static match, then (its nested locations first) this level's regexes
 * unless the static match was ^~. <r> NULL: no regexes.
 */
static int
http_core_search(struct pt_request *r, const struct pt_http_loc *parent, struct pt_str uri,
    struct pt_http_loc **out)
{
	struct pt_http_loc *l;
	int exact, noregex = 0, i, m;

	l = http_core_static(parent, uri, &exact);
	if (l != NULL) {
		*out = l;
		if (exact)
			return LOC_FINAL;
		noregex = l->noregex;
		if (l->nexact_locs + l->nprefix_locs + l->nregex_locs > 0 &&
		    http_core_search(r, l, uri, out) == LOC_FINAL)
			return LOC_FINAL;
	}
	if (noregex || r == NULL)
		return LOC_GO_ON;
	for (i = 0; i < parent->nregex_locs; i++) {
		l = parent->regex_locs[i];
		m = pt_regex_exec(r, l->regex, uri);
		if (m == 0)
			continue;
		if (m < 0) {
			*out = NULL;
			return LOC_FINAL;
		}
		*out = l;
		if (l->nregex_locs > 0)
			(void)http_core_search(r, l, uri, out);
		return LOC_FINAL;
	}
	return LOC_GO_ON;
}

struct pt_http_loc *
pt_http_find_location(struct pt_http_srv *s, struct pt_str uri)
{
	struct pt_http_loc *l = NULL;

	(void)http_core_search(NULL, s->root_loc, uri, &l);
	return l;
}

struct pt_http_loc *
pt_http_find_loc(struct pt_request *r)
{
	struct pt_http_loc *l = NULL;

	(void)http_core_search(r, r->srv->root_loc, r->uri, &l);
	return l;
}

struct pt_http_loc *
pt_http_find_named(struct pt_http_srv *s, struct pt_str name)
{
	int lo = 0, hi = s->nnamed - 1, mid, c;

	while (lo <= hi) {
		mid = (lo + hi) / 2;
		c = strncmp(s->named[mid]->name, name.data, name.len);
		if (c == 0 && s->named[mid]->name_len != name.len)
			c = 1;
		if (c == 0)
			return s->named[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

struct pt_http_addr_servers *
pt_http_addr_servers(struct pt_conn *c)
{
	struct pt_http_addr_servers *as = c->listener->servers;
	int i;

	if (as->nspecific == 0)
		return as;
	pt_conn_local_addr(c);
	for (i = 0; i < as->nspecific; i++)
		if (c->local.len == as->specific_addr[i].len &&
		    memcmp(&c->local.sa, &as->specific_addr[i].sa, c->local.len) == 0)
			return as->specific[i];
	return as;
}

/* the server for <host> among those on one address */
struct pt_http_srv *
pt_http_find_server(struct pt_http_addr_servers *as, struct pt_str host)
{
	int lo = 0, hi = as->nexact - 1, mid, c, i;

	while (lo <= hi) {
		mid = (lo + hi) / 2;
		c = strncmp(as->exact_keys[mid], host.data ? host.data : "", host.len);
		if (c == 0 && as->exact_keys[mid][host.len] != '\0')
			c = 1;
		if (c == 0)
			return as->exact_names[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	{
		/* nginx: the longest leading wildcard, else the longest trailing one */
		int lead = -1, trail = -1;
		size_t lead_len = 0, trail_len = 0;

		for (i = 0; i < as->nwild; i++) {
			const char *k = as->wild_keys[i];
			size_t kl = strlen(k);

			if ((k[0] == '*' && host.len > kl - 1 &&
			    memcmp(host.data + host.len - (kl - 1), k + 1, kl - 1) == 0) ||
			    (k[0] == '.' && ((host.len == kl - 1 &&
			    memcmp(host.data, k + 1, kl - 1) == 0) || (host.len > kl &&
			    memcmp(host.data + host.len - kl, k, kl) == 0)))) {
				if (k[0] == '*')
					kl--;
				if (lead < 0 || kl > lead_len) {
					lead = i;
					lead_len = kl;
				}
			} else if (k[kl - 1] == '*' && host.len > kl - 1 &&
			    memcmp(host.data, k, kl - 1) == 0 && (trail < 0 || kl > trail_len)) {
				trail = i;
				trail_len = kl;
			}
		}
		if (lead >= 0)
			return as->wild_srv[lead];
		if (trail >= 0)
			return as->wild_srv[trail];
	}
	/* regex names in config order (captures: pt_http_server_captures) */
	for (i = 0; i < as->nregex; i++)
		if (host.len > 0 && pt_regex_exec(NULL, as->regex_keys[i], host) == 1)
			return as->regex_srv[i];
	return as->default_server;
}

struct pt_module pt_mod_http_core = {
	.name = "http",
	.directives = http_core_directives,
	.conf_size = { [PT_LEVEL_SRV] = sizeof(struct pt_http_srv),
		       [PT_LEVEL_LOC] = sizeof(struct pt_http_loc) },
	.conf_create = http_core_conf_create,
	.conf_merge = http_core_conf_merge,
	.postconfig = http_core_postconfig,
	.variables = pt_http_core_variables,
};
