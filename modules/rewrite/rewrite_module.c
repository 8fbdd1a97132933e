/*
 * rewrite_module.c: `return` for now; rewrite, if, set and break join it
 * with the routing work. Runs in the SERVER_REWRITE and REWRITE phases.
 */
#include "portico.h"

struct rewrite_loc {
	int		 return_code;	/* 0 = no return here */
	struct pt_cv	*return_text;	/* body or Location, may be NULL */
	unsigned	 return_set:1;	/* return written at this level */
};

extern struct pt_module pt_mod_rewrite;

/*---- configuration (master) ----*/

static const char *
rewrite_return(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct rewrite_loc *rl = conf;
	const struct pt_conf_node *n = cf->node;
	const char *err = NULL, *text = NULL;
	long code;

	if (n->nargs == 1 && pt_parse_int(n->args[0], 0, 999, &code) != PT_OK) {
		/* "return URL": a 302 to that URL */
		if (strncmp(n->args[0], "http://", 7) != 0 && strncmp(n->args[0], "https://", 8) != 0 &&
		    strncmp(n->args[0], "$scheme", 7) != 0)
			return pt_psprintf(cf->pool, "invalid return code \"%s\"", n->args[0]);
		code = 302;
		text = n->args[0];
	} else {
		if (pt_parse_int(n->args[0], 0, 999, &code) != PT_OK)
			return pt_psprintf(cf->pool, "invalid return code \"%s\"", n->args[0]);
		if (n->nargs == 2)
			text = n->args[1];
	}
	if (code != 444 && (code < 100 || code > 599))
		return pt_psprintf(cf->pool, "invalid return code \"%ld\" in \"%s\" directive", code,
		    d->name);
	rl->return_code = (int)code;
	rl->return_set = 1;
	if (text != NULL) {
		rl->return_text = pt_cv_compile(cf, text, &err);
		if (rl->return_text == NULL)
			return err;
	}
	return NULL;
}

static const struct pt_directive rewrite_directives[] = {
	{ "return", PT_CTX_SERVER | PT_CTX_LOCATION | PT_CTX_IF, 0, 0, 1, 2, PT_LEVEL_LOC,
	  PT_NO_OFFSET, rewrite_return, NULL, NULL,
	  "stop processing and answer with a status and a text or redirect URL" },
	PT_DIRECTIVE_END
};

/*---- runtime (worker) ----*/

static int
rewrite_handler(struct pt_request *r)
{
	struct rewrite_loc *rl = r->phase == PT_PHASE_SERVER_REWRITE ?
	    r->srv->loc_conf[pt_mod_rewrite.index] : pt_http_loc_conf(r, &pt_mod_rewrite);
	struct pt_str text = PT_NULL_STR;
	int code;

	if (rl == NULL || !rl->return_set)
		return PT_DECLINED;
	code = rl->return_code;
	if (code == 444) {
		/* nginx's "close without a response" */
		r->keepalive = 0;
		r->close_reason = PT_CLOSE_DONE;
		return PT_ERROR;
	}
	if (rl->return_text != NULL)
		pt_cv_eval(r, rl->return_text, &text);
	if (code == 301 || code == 302 || code == 303 || code == 307 || code == 308) {
		if (text.len > 0) {
			pt_http_out_add(r, PT_STR("Location"), text);
			text = PT_NULL_STR;
		}
		return code;	/* the standard error page body */
	}
	if (rl->return_text == NULL) {
		if (code >= 400)
			return code;
		r->status = code;
		r->out_length = 0;
		if (pt_http_send_header(r) != PT_OK || pt_http_send(r, NULL) == PT_ERROR)
			return PT_ERROR;
		pt_http_finalize(r, PT_DONE);
		return PT_DONE;
	}
	if (pt_http_send_simple(r, code, (struct pt_str){ strlen(r->loc->default_type),
	    r->loc->default_type }, text) != PT_OK) {
		pt_http_finalize(r, PT_ERROR);
		return PT_DONE;
	}
	pt_http_finalize(r, PT_DONE);
	return PT_DONE;
}

static int
rewrite_postconfig(struct pt_cycle *cycle)
{
	if (pt_phase_add(cycle, PT_PHASE_SERVER_REWRITE, 100, rewrite_handler) != PT_OK ||
	    pt_phase_add(cycle, PT_PHASE_REWRITE, 100, rewrite_handler) != PT_OK)
		return PT_ERROR;
	return PT_OK;
}

struct pt_module pt_mod_rewrite = {
	.name = "rewrite",
	.directives = rewrite_directives,
	.conf_size = { [PT_LEVEL_LOC] = sizeof(struct rewrite_loc) },
	.postconfig = rewrite_postconfig,
};
