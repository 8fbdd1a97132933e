/*
 * access_module.c: allow and deny by client address (after realip), the
 * first matching rule wins; a denied request gets 403. Runs in the ACCESS
 * phase at priority 100, before limit_req and limit_conn, so that denied
 * clients use no rate or connection quota.
 *
 * satisfy all|any (not implemented: there is no authentication module
 * yet). The hook for it: authentication modules add ACCESS handlers
 * between 100 and 200; with "satisfy any" this handler would, instead
 * of answering 403, note the denial in the request and let them run,
 * the first one that accepts ending the access checks, and the last one
 * answering 403/401 when none did. limit_req and limit_conn (200, 300)
 * stay outside: they apply whatever satisfy says, as in nginx.
 */
#include "portico.h"
#include "cidr.h"

extern struct pt_module pt_mod_access;

struct access_rule {
	struct pt_cidr		 cidr;		/* addresses matched */
	int			 deny;		/* 1 deny, 0 allow */
};

struct access_loc {
	struct pt_array		*rules;		/* struct access_rule, inherited when NULL */
};

/*---- configuration (master) ----*/

static const char *
access_rule_directive(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct access_loc *al = conf;
	struct access_rule *rule;
	const char *err;

	if (al->rules == NULL) {
		al->rules = pt_palloc(cf->pool, sizeof(*al->rules));
		pt_array_init(al->rules, cf->pool, 4, sizeof(struct access_rule));
	}
	rule = pt_array_push(al->rules);
	rule->deny = d->name[0] == 'd';
	err = pt_cidr_parse(cf->pool, cf->node->args[0], &rule->cidr);
	return err;
}

static const struct pt_directive access_directives[] = {
	{ "allow", PT_CTX_HTTP_ANY, PT_D_MULTI, 0, 1, 1, PT_LEVEL_LOC, PT_NO_OFFSET,
	  access_rule_directive, NULL, NULL, "allow an address, a CIDR range or all" },
	{ "deny", PT_CTX_HTTP_ANY, PT_D_MULTI, 0, 1, 1, PT_LEVEL_LOC, PT_NO_OFFSET,
	  access_rule_directive, NULL, NULL, "deny an address, a CIDR range or all (403)" },
	PT_DIRECTIVE_END
};

static const char *
access_conf_merge(struct pt_conf_ctx *cf, enum pt_conf_level level, void *parent, void *child)
{
	struct access_loc *p = parent, *c = child;

	(void)cf;
	if (level == PT_LEVEL_LOC && c->rules == NULL && p != NULL)
		c->rules = p->rules;
	return NULL;
}

/*---- runtime (worker) ----*/

static int
access_handler(struct pt_request *r)
{
	struct access_loc *al = pt_http_loc_conf(r, &pt_mod_access);
	const struct pt_sockaddr *sa;
	const struct access_rule *rules;
	const uint8_t *bytes;
	int family;
	size_t i;

	if (al->rules == NULL)
		return PT_DECLINED;
	sa = pt_http_client_addr(r);
	family = pt_cidr_addr(&sa->sa, &bytes);
	rules = al->rules->elts;
	for (i = 0; i < al->rules->nelts; i++) {
		if (!pt_cidr_match(&rules[i].cidr, family, bytes))
			continue;
		if (!rules[i].deny)
			return PT_DECLINED;
		if (pt_log_enabled(PT_LOG_ERR)) {
			char host[64];

			pt_sockaddr_host(sa, host, sizeof(host));
			pt_log(PT_LOG_ERR, 0, "access forbidden by rule, client: %s, request: \"%.*s\"",
			    host, (int)r->request_line.len, r->request_line.data);
		}
		return 403;
	}
	return PT_DECLINED;
}

static int
access_postconfig(struct pt_cycle *cycle)
{
	if (cycle->http == NULL)
		return PT_OK;
	return pt_phase_add(cycle, PT_PHASE_ACCESS, 100, access_handler);
}

struct pt_module pt_mod_access = {
	.name = "access",
	.directives = access_directives,
	.conf_size = { [PT_LEVEL_LOC] = sizeof(struct access_loc) },
	.conf_merge = access_conf_merge,
	.postconfig = access_postconfig,
};
