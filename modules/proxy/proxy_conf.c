/*
 * proxy_conf.c: the proxy module's directives (master, config time).
 */
#include "proxy.h"

static const char *const proxy_http_versions[] = { "1.0", "1.1", NULL };

#define PL(f)	offsetof(struct proxy_loc, f)

static const char *
proxy_pass(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct proxy_loc *pl = conf;
	struct pt_http_loc *loc = cf->loc_conf[pt_mod_http_core.index];
	const char *url = cf->node->args[0], *hostp, *slash;
	char *name, *group;
	int tls = strncmp(url, "https://", 8) == 0;

	if (cf->ctx != PT_CTX_LOCATION && cf->ctx != PT_CTX_IF)
		return pt_psprintf(cf->pool, "\"%s\" directive is allowed in locations only", d->name);
	if (strchr(url, '$') != NULL) {
		/* with variables: proxy_dynamic.c */
		int dyn;
		const char *err = pt_proxy_dynamic_conf(cf, pl, url, &dyn);

		if (err != NULL || dyn)
			return err;
	}
	if (!tls && strncmp(url, "http://", 7) != 0)
		return pt_psprintf(cf->pool, "invalid URL prefix in \"%s\": \"%s\"", d->name, url);
	hostp = url + (tls ? 8 : 7);
	slash = strchr(hostp, '/');
	name = slash ? pt_pstrndup(cf->pool, hostp, (size_t)(slash - hostp)) :
	    pt_pstrdup(cf->pool, hostp);
	if (name[0] == '\0')
		return pt_psprintf(cf->pool, "no host in \"%s\" of the \"%s\" directive", url, d->name);
	group = name;
	if (tls) {
		/*
		 * https://host without a port: port 443, unless an upstream
		 * block of that name is already defined (define upstream
		 * blocks before the proxy_pass that names them).
		 */
		struct pt_upstream_main *um = cf->http_conf[pt_mod_upstream.index];
		const char *rb = strrchr(name, ']');
		int defined = 0;
		size_t i;

		for (i = 0; um != NULL && i < um->upstreams.nelts; i++) {
			struct pt_upstream *o = ((struct pt_upstream **)um->upstreams.elts)[i];

			if (o->defined && strcmp(o->name, name) == 0)
				defined = 1;
		}
		if (!defined && strchr(rb ? rb : name, ':') == NULL)
			group = pt_psprintf(cf->pool, "%s:443", name);
		pl->ssl = 1;
	}
	pl->upstream = pt_upstream_get(cf, group, 1);
	if (pl->upstream == NULL)
		return pt_psprintf(cf->pool, "invalid upstream \"%s\"", name);
	pl->host.data = name;
	pl->host.len = strlen(name);
	/* $proxy_host (and the default Host) leave out the scheme's own port */
	{
		const char *dflt = tls ? ":443" : ":80";
		size_t dl = strlen(dflt);

		if (pl->host.len > dl && strcmp(name + pl->host.len - dl, dflt) == 0)
			pl->host.len -= dl;
	}
	if (slash) {
		pl->has_uri = 1;
		pl->uri.data = pt_pstrdup(cf->pool, slash);
		pl->uri.len = strlen(slash);
	}
	pl->loc_name.data = loc->name;
	pl->loc_name.len = loc->name_len;
	loc->content = pt_proxy_handler;
	return NULL;
}

static const char *
proxy_set_header(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct proxy_loc *pl = conf;
	struct proxy_header *h;
	const char *err = NULL;

	(void)d;
	if (pl->headers == NULL) {
		pl->headers = pt_palloc(cf->pool, sizeof(*pl->headers));
		pt_array_init(pl->headers, cf->pool, 4, sizeof(struct proxy_header));
	}
	h = pt_array_push(pl->headers);
	h->name.data = pt_pstrdup(cf->pool, cf->node->args[0]);
	h->name.len = strlen(h->name.data);
	h->value = pt_cv_compile(cf, cf->node->args[1], &err);
	if (h->value == NULL)
		return err;
	return NULL;
}

/* a body buffer smaller than this is all overhead */
static const size_t proxy_min_buffer = 512;

static const struct pt_directive proxy_directives[] = {
	{ "proxy_pass", PT_CTX_LOCATION | PT_CTX_IF, 0, 0, 1, 1, PT_LEVEL_LOC, PT_NO_OFFSET,
	  proxy_pass, NULL, NULL, "pass requests to an upstream group or address" },
	{ "proxy_set_header", PT_CTX_HTTP_ANY, PT_D_MULTI, 0, 2, 2, PT_LEVEL_LOC, PT_NO_OFFSET,
	  proxy_set_header, NULL, NULL, "set or remove a request field sent upstream" },
	{ "proxy_http_version", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, PL(http_version),
	  pt_conf_set_enum, "1.0", proxy_http_versions, "HTTP version spoken to upstreams" },
	{ "proxy_connect_timeout", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, PL(connect_timeout),
	  pt_conf_set_msec, "60s", NULL, "time to establish an upstream connection" },
	{ "proxy_read_timeout", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, PL(read_timeout),
	  pt_conf_set_msec, "60s", NULL, "time between two reads from the upstream" },
	{ "proxy_send_timeout", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, PL(send_timeout),
	  pt_conf_set_msec, "60s", NULL, "time between two writes to the upstream" },
	{ "proxy_buffering", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, PL(buffering),
	  pt_conf_set_flag, "on", NULL, "read responses ahead of a slow client" },
	{ "proxy_buffer_size", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, PL(buffer_size),
	  pt_conf_set_size, "4k", NULL, "buffer for the response head" },
	{ "proxy_buffers", PT_CTX_HTTP_ANY, 0, 0, 2, 2, PT_LEVEL_LOC, PL(buffers), pt_conf_set_bufs,
	  "8 4k", &proxy_min_buffer, "number and size of response body buffers" },
	{ "proxy_max_temp_file_size", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC,
	  PL(max_temp_file_size), pt_conf_set_size, "0", NULL,
	  "accepted for compatibility: responses are never spooled to disk" },
	{ "proxy_request_buffering", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC,
	  PL(request_buffering), pt_conf_set_flag, "on", NULL,
	  "accepted; request bodies are streamed to the upstream" },
	{ "proxy_pass_request_headers", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC,
	  PL(pass_request_headers), pt_conf_set_flag, "on", NULL,
	  "pass the client's request fields upstream" },
	{ "proxy_intercept_errors", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC,
	  PL(intercept_errors), pt_conf_set_flag, "off", NULL,
	  "answers >= 300 with an error_page for their code are replaced by it" },
	{ "proxy_pass_request_body", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC,
	  PL(pass_request_body), pt_conf_set_flag, "on", NULL,
	  "pass the client's request body upstream" },
	{ "proxy_limit_rate", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, PL(limit_rate),
	  pt_conf_set_size, "0", NULL, "bytes per second read from the upstream per request" },
	PT_DIRECTIVE_END
};

static const char *
proxy_conf_merge(struct pt_conf_ctx *cf, enum pt_conf_level level, void *parent, void *child)
{
	struct proxy_loc *p = parent, *c = child;
	const char *err = NULL;

	if (level != PT_LEVEL_LOC)
		return NULL;
	/*
	 * The target is inherited too: only an if block takes its enclosing
	 * location's content handler (nested locations do not), and then it
	 * needs this.
	 */
	if (c->upstream == NULL && c->url == NULL && p != NULL &&
	    (p->upstream != NULL || p->url != NULL)) {
		c->upstream = p->upstream;
		c->url = p->url;
		c->ssl = p->ssl;
		c->uri = p->uri;
		c->has_uri = p->has_uri;
		c->host = p->host;
		c->loc_name = p->loc_name;
	}
	if (c->headers == NULL) {
		if (p != NULL) {
			c->headers = p->headers;
		} else {
			/* the top level: nginx's defaults */
			struct proxy_header *h;

			c->headers = pt_palloc(cf->pool, sizeof(*c->headers));
			pt_array_init(c->headers, cf->pool, 2, sizeof(struct proxy_header));
			h = pt_array_push(c->headers);
			h->name = PT_STR("Host");
			h->value = pt_cv_compile(cf, "$proxy_host", &err);
			h = pt_array_push(c->headers);
			h->name = PT_STR("Connection");
			h->value = pt_cv_compile(cf, "close", &err);
			if (err)
				return err;
		}
	} else {
		/* a level that sets headers still gets the defaults it did not set */
		static const char *const defs[][2] = { { "Host", "$proxy_host" },
			{ "Connection", "close" } };
		size_t i, k;

		for (k = 0; k < 2; k++) {
			int found = 0;

			for (i = 0; i < c->headers->nelts; i++) {
				struct proxy_header *h = (struct proxy_header *)c->headers->elts + i;

				if (pt_str_eq_lc(h->name, k == 0 ? "host" : "connection"))
					found = 1;
			}
			if (!found) {
				struct proxy_header *h = pt_array_push(c->headers);

				h->name.data = defs[k][0];
				h->name.len = strlen(defs[k][0]);
				h->value = pt_cv_compile(cf, defs[k][1], &err);
				if (err)
					return err;
			}
		}
	}
	if (c->buffer_size < 1024)
		return "\"proxy_buffer_size\" must be at least 1k";
	return NULL;
}

struct pt_module pt_mod_proxy = {
	.name = "proxy",
	.directives = proxy_directives,
	.conf_size = { [PT_LEVEL_LOC] = sizeof(struct proxy_loc) },
	.conf_merge = proxy_conf_merge,
	.init_worker = pt_proxy_dynamic_init_worker,
};
