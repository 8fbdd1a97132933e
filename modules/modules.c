/*
 * modules.c: the compiled-in modules. Order here carries no meaning:
 * phase handlers and filters declare their own priorities.
 */
#include "portico.h"

extern struct pt_module pt_mod_core;
extern struct pt_module pt_mod_http_core;
extern struct pt_module pt_mod_http_log;
extern struct pt_module pt_mod_rewrite;
extern struct pt_module pt_mod_static;
extern struct pt_module pt_mod_headers;
extern struct pt_module pt_mod_proxy_headers;
extern struct pt_module pt_mod_map;
extern struct pt_module pt_mod_upstream;
extern struct pt_module pt_mod_proxy;
extern struct pt_module pt_mod_proxy_next;
extern struct pt_module pt_mod_tls;
extern struct pt_module pt_mod_limit_req;
extern struct pt_module pt_mod_limit_conn;
extern struct pt_module pt_mod_access;
extern struct pt_module pt_mod_realip;
extern struct pt_module pt_mod_limit_rate;

struct pt_module *pt_modules[] = {
	&pt_mod_core,
	&pt_mod_http_core,
	&pt_mod_http_log,
	&pt_mod_rewrite,
	&pt_mod_static,
	&pt_mod_headers,
	&pt_mod_proxy_headers,
	&pt_mod_map,
	&pt_mod_upstream,
	&pt_mod_proxy,
	&pt_mod_proxy_next,
	&pt_mod_tls,
	&pt_mod_limit_req,
	&pt_mod_limit_conn,
	&pt_mod_access,
	&pt_mod_realip,
	&pt_mod_limit_rate,
	NULL
};

int pt_nmodules;

void
pt_modules_init(void)
{
	int i;

	for (i = 0; pt_modules[i] != NULL; i++)
		pt_modules[i]->index = i;
	pt_nmodules = i;
}
