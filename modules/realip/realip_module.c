/*
 * realip_module.c: the client address from a header set by trusted
 * proxies. When the connection comes from an address listed by
 * set_real_ip_from, the address in real_ip_header (X-Real-IP,
 * X-Forwarded-For or any other field) becomes $remote_addr for the rest
 * of the request: the access log, allow/deny and the limit zones. With
 * real_ip_recursive on, X-Forwarded-For is walked from the right past
 * every trusted address. $realip_remote_addr keeps the peer's address.
 * Runs in POST_READ (server-level settings) and again in ACCESS at
 * priority 50 for settings written in the location; once per request.
 */
#include <ctype.h>
#include <strings.h>
#include "portico.h"
#include "../access/cidr.h"

extern struct pt_module pt_mod_realip;

struct realip_loc {
	struct pt_array		*from;		/* struct pt_cidr, inherited when NULL */
	char			*header;	/* real_ip_header, NULL = inherit */
	struct pt_cv		*value;		/* "$http_<header>" */
	int			 is_xff;	/* header is a comma-separated list */
	int			 recursive;	/* real_ip_recursive */
};

struct realip_ctx {
	unsigned		 done:1;
};

/*---- configuration (master) ----*/

static const char *
realip_from(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct realip_loc *rl = conf;
	struct pt_cidr *c;

	(void)d;
	if (rl->from == NULL) {
		rl->from = pt_palloc(cf->pool, sizeof(*rl->from));
		pt_array_init(rl->from, cf->pool, 4, sizeof(struct pt_cidr));
	}
	c = pt_array_push(rl->from);
	return pt_cidr_parse(cf->pool, cf->node->args[0], c);
}

static const char *
realip_header(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct realip_loc *rl = conf;
	const char *h = cf->node->args[0], *err = NULL;
	char *var, *p;

	(void)d;
	if (strcasecmp(h, "proxy_protocol") == 0)
		return "\"proxy_protocol\" is not supported: listeners do not parse the PROXY "
		    "protocol";
	if (h[0] == '\0' || strpbrk(h, " \t:$") != NULL)
		return pt_psprintf(cf->pool, "invalid header name \"%s\"", h);
	rl->header = pt_pstrdup(cf->pool, h);
	var = pt_psprintf(cf->pool, "$http_%s", h);
	for (p = var + 6; *p != '\0'; p++)
		*p = *p == '-' ? '_' : (char)tolower((unsigned char)*p);
	rl->value = pt_cv_compile(cf, var, &err);
	if (rl->value == NULL)
		return err;
	rl->is_xff = strcasecmp(h, "X-Forwarded-For") == 0;
	return NULL;
}

#define RL(f)	offsetof(struct realip_loc, f)

static const struct pt_directive realip_directives[] = {
	{ "set_real_ip_from", PT_CTX_HTTP_ANY, PT_D_MULTI, 0, 1, 1, PT_LEVEL_LOC, PT_NO_OFFSET,
	  realip_from, NULL, NULL, "trust this address or CIDR range to tell the client address" },
	{ "real_ip_header", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, PT_NO_OFFSET,
	  realip_header, NULL, NULL, "request field holding the client address (X-Real-IP)" },
	{ "real_ip_recursive", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, RL(recursive),
	  pt_conf_set_flag, "off", NULL, "skip trusted addresses from the right of X-Forwarded-For" },
	PT_DIRECTIVE_END
};

static const char *
realip_conf_merge(struct pt_conf_ctx *cf, enum pt_conf_level level, void *parent, void *child)
{
	struct realip_loc *p = parent, *c = child;
	const char *err = NULL;

	if (level != PT_LEVEL_LOC)
		return NULL;
	if (c->from == NULL && p != NULL)
		c->from = p->from;
	if (c->header == NULL) {
		if (p != NULL) {
			c->header = p->header;
			c->value = p->value;
			c->is_xff = p->is_xff;
		} else {
			c->header = "X-Real-IP";
			c->value = pt_cv_compile(cf, "$http_x_real_ip", &err);
			if (c->value == NULL)
				return err;
		}
	}
	return NULL;
}

/*---- runtime (worker) ----*/

static int
realip_trusted(const struct realip_loc *rl, const union pt_sa *ss)
{
	const struct pt_cidr *c = rl->from->elts;
	const uint8_t *bytes;
	int family = pt_cidr_addr(ss, &bytes);
	size_t i;

	for (i = 0; i < rl->from->nelts; i++)
		if (pt_cidr_match(&c[i], family, bytes))
			return 1;
	return 0;
}

/* parse one address (trimmed) of <s> into <sa>; PT_OK or PT_ERROR */
static int
realip_parse(struct pt_str s, struct pt_sockaddr *sa)
{
	char buf[64];

	while (s.len > 0 && (s.data[0] == ' ' || s.data[0] == '\t')) {
		s.data++;
		s.len--;
	}
	while (s.len > 0 && (s.data[s.len - 1] == ' ' || s.data[s.len - 1] == '\t'))
		s.len--;
	if (s.len == 0 || s.len >= sizeof(buf))
		return PT_ERROR;
	memcpy(buf, s.data, s.len);
	buf[s.len] = '\0';
	memset(sa, 0, sizeof(*sa));
	if (inet_pton(AF_INET, buf, &((struct sockaddr_in *)(void *)&sa->sa)->sin_addr) == 1) {
		sa->sa.ss_family = AF_INET;
		sa->len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, buf,
	    &((struct sockaddr_in6 *)(void *)&sa->sa)->sin6_addr) == 1) {
		sa->sa.ss_family = AF_INET6;
		sa->len = sizeof(struct sockaddr_in6);
	} else {
		return PT_ERROR;
	}
	pt_sockaddr_format(sa);
	return PT_OK;
}

static int
realip_handler(struct pt_request *r)
{
	struct realip_loc *rl = r->phase == PT_PHASE_POST_READ ?
	    r->srv->loc_conf[pt_mod_realip.index] : pt_http_loc_conf(r, &pt_mod_realip);
	struct realip_ctx *ctx = pt_http_ctx(r, &pt_mod_realip);
	struct pt_sockaddr *sa;
	struct pt_str v, item;
	const char *end, *p;

	if (rl->from == NULL || (ctx != NULL && ctx->done))
		return PT_DECLINED;
	if (r->real_addr != NULL || !realip_trusted(rl, &r->c->peer.sa))
		return PT_DECLINED;
	pt_cv_eval(r, rl->value, &v);
	if (v.len == 0)
		return PT_DECLINED;
	if (ctx == NULL) {
		ctx = pt_pcalloc(r->pool, sizeof(*ctx));
		pt_http_set_ctx(r, &pt_mod_realip, ctx);
	}
	ctx->done = 1;
	sa = pt_palloc(r->pool, sizeof(*sa));
	if (!rl->is_xff) {
		if (realip_parse(v, sa) != PT_OK)
			return PT_DECLINED;
		r->real_addr = sa;
		return PT_DECLINED;
	}
	/* X-Forwarded-For: from the right, past trusted proxies when recursive */
	end = v.data + v.len;
	while (end > v.data) {
		p = end;
		while (p > v.data && p[-1] != ',')
			p--;
		item.data = p;
		item.len = (size_t)(end - p);
		if (realip_parse(item, sa) != PT_OK)
			break;		/* garbage: keep the last good address */
		r->real_addr = sa;
		if (!rl->recursive || !realip_trusted(rl, &sa->sa))
			break;
		if (p == v.data)
			break;
		end = p - 1;
		sa = pt_palloc(r->pool, sizeof(*sa));
	}
	return PT_DECLINED;
}

static int
realip_var_remote_addr(struct pt_request *r, void *data, struct pt_str *out)
{
	char *buf = pt_palloc(r->pool, 64);

	(void)data;
	out->len = pt_sockaddr_host(&r->c->peer, buf, 64);
	out->data = buf;
	return PT_OK;
}

static int
realip_var_remote_port(struct pt_request *r, void *data, struct pt_str *out)
{
	char *buf = pt_palloc(r->pool, 8);

	(void)data;
	out->data = buf;
	out->len = (size_t)(pt_fmt_u64(buf, (uint64_t)pt_sockaddr_port(&r->c->peer)) - buf);
	return PT_OK;
}

static const struct pt_var_def realip_variables[] = {
	{ "realip_remote_addr", 0, realip_var_remote_addr, NULL },
	{ "realip_remote_port", 0, realip_var_remote_port, NULL },
	PT_VAR_DEF_END
};

static int
realip_postconfig(struct pt_cycle *cycle)
{
	if (cycle->http == NULL)
		return PT_OK;
	if (pt_phase_add(cycle, PT_PHASE_POST_READ, 100, realip_handler) != PT_OK ||
	    pt_phase_add(cycle, PT_PHASE_ACCESS, 50, realip_handler) != PT_OK)
		return PT_ERROR;
	return PT_OK;
}

struct pt_module pt_mod_realip = {
	.name = "realip",
	.directives = realip_directives,
	.conf_size = { [PT_LEVEL_LOC] = sizeof(struct realip_loc) },
	.conf_merge = realip_conf_merge,
	.postconfig = realip_postconfig,
	.variables = realip_variables,
};
