/*
 * rewrite_module.c: return, rewrite, set, if, break and rewrite_log.
 *
 * The directives of one level (server, location, or if block) compile
 * into a script: an array of operations in config order. The server
 * level's script runs in the SERVER_REWRITE phase, the location's in
 * the REWRITE phase. An if block is a location-like level of its own
 * (its settings merge from the enclosing level, as in nginx): when its
 * condition holds, the request takes its configuration and its script
 * runs in place, then the enclosing script goes on.
 *
 * A rewrite without a flag that changed the URI, and "last", make the
 * request search the location again after the script; each search
 * counts towards the limit of 10 URI changes and internal redirects
 * (then 500, logged, as nginx).
 */
#include <sys/stat.h>

#include "portico.h"
#include "regex.h"

enum rw_op_type {
	RW_RETURN,
	RW_REWRITE,
	RW_SET,
	RW_IF,
	RW_BREAK,
};

enum rw_flag {
	RW_FLAG_NONE,
	RW_FLAG_LAST,
	RW_FLAG_BREAK,
	RW_FLAG_REDIRECT,
	RW_FLAG_PERMANENT,
};

enum rw_cond {
	RW_COND_VAR,		/* ($x): not "" and not "0" */
	RW_COND_EQ,		/* = */
	RW_COND_NE,		/* != */
	RW_COND_MATCH,		/* ~ ~* */
	RW_COND_NOMATCH,	/* !~ !~* */
	RW_COND_FILE,		/* -f */
	RW_COND_DIR,		/* -d */
	RW_COND_EXISTS,		/* -e */
};

struct rw_script;

struct rw_op {
	enum rw_op_type		 type;
	/* return */
	int			 code;
	struct pt_cv		*text;		/* return text/URL, rewrite replacement,
						   set value, if operand */
	/* rewrite */
	struct pt_regex		*regex;		/* rewrite, if ~ */
	enum rw_flag		 flag;
	unsigned		 redirect:1;	/* replacement is an absolute URL */
	unsigned		 drop_args:1;	/* replacement ends with '?' */
	/* set */
	int			 var;		/* index into r->uvars */
	/* if */
	enum rw_cond		 cond;
	unsigned		 negate:1;	/* !-f, !-d, !-e */
	struct pt_cv		*subject;	/* the variable tested */
	struct pt_http_loc	*if_loc;	/* the block's configuration */
	struct rw_script	*if_script;
	const char		*file;
	int			 line;
};

struct rw_script {
	struct pt_array		 ops;		/* struct rw_op */
};

struct rewrite_loc {
	struct rw_script	*script;	/* NULL: no rewrite directives here */
	int			 rewrite_log;
};

struct rewrite_main {
	int			 nvars;		/* "set" variables */
};

/* outcome of running a script */
#define RW_NEXT		0		/* script ended: go on */
#define RW_STOP		1		/* break or rewrite ... break */
#define RW_RESEARCH	2		/* rewrite ... last: search locations again */

extern struct pt_module pt_mod_rewrite;

/* a rewrite without a flag changed the URI during the current script run */
static int rw_uri_changed;

/*---- configuration (master) ----*/

static struct rw_op *
rw_op_add(struct pt_conf_ctx *cf, struct rewrite_loc *rl, enum rw_op_type type)
{
	struct rw_op *op;

	if (rl->script == NULL) {
		rl->script = pt_pcalloc(cf->pool, sizeof(*rl->script));
		pt_array_init(&rl->script->ops, cf->pool, 4, sizeof(struct rw_op));
	}
	op = pt_array_push(&rl->script->ops);
	memset(op, 0, sizeof(*op));
	op->type = type;
	op->file = cf->node->file;
	op->line = cf->node->line;
	return op;
}

static int
rw_is_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0 ||
	    strncmp(s, "$scheme", 7) == 0;
}

static const char *
rewrite_return(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const struct pt_conf_node *n = cf->node;
	const char *err = NULL, *text = NULL;
	struct rw_op *op;
	long code;

	if (n->nargs == 1 && pt_parse_int(n->args[0], 0, 999, &code) != PT_OK) {
		/* "return URL": a 302 to that URL */
		if (!rw_is_url(n->args[0]))
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
	op = rw_op_add(cf, conf, RW_RETURN);
	op->code = (int)code;
	if (text != NULL) {
		op->text = pt_cv_compile(cf, text, &err);
		if (op->text == NULL)
			return err;
	}
	return NULL;
}

static const char *
rewrite_rewrite(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const struct pt_conf_node *n = cf->node;
	const char *err = NULL, *repl = n->args[1];
	struct rw_op *op = rw_op_add(cf, conf, RW_REWRITE);
	size_t len;

	op->regex = pt_regex_compile(cf, n->args[0], 0, &err);
	if (op->regex == NULL)
		return err;
	if (n->nargs == 3) {
		static const char *const flags[] = { "last", "break", "redirect", "permanent" };
		int i;

		for (i = 0; i < 4; i++)
			if (strcmp(n->args[2], flags[i]) == 0)
				op->flag = (enum rw_flag)(i + 1);
		if (op->flag == RW_FLAG_NONE)
			return pt_psprintf(cf->pool, "invalid parameter \"%s\" in \"%s\" directive",
			    n->args[2], d->name);
	}
	op->redirect = rw_is_url(repl);
	len = strlen(repl);
	if (len > 0 && repl[len - 1] == '?') {
		op->drop_args = 1;
		repl = pt_pstrndup(cf->pool, repl, len - 1);
	}
	op->text = pt_cv_compile(cf, repl, &err);
	if (op->text == NULL)
		return err;
	return NULL;
}

static const char *
rewrite_break(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	(void)d;
	rw_op_add(cf, conf, RW_BREAK);
	return NULL;
}

static int
rw_var_get(struct pt_request *r, void *data, struct pt_str *out)
{
	int i = (int)(intptr_t)data - 1;

	if (r->uvars == NULL || r->uvars[i].data == NULL)
		return PT_DECLINED;
	*out = r->uvars[i];
	return PT_OK;
}

static const char *
rewrite_set(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct rewrite_main *rm = cf->http_conf[pt_mod_rewrite.index];
	const char *name = cf->node->args[0], *err = NULL;
	struct pt_str vn;
	struct rw_op *op;
	void *idx;

	if (name[0] != '$' || name[1] == '\0')
		return pt_psprintf(cf->pool, "invalid variable name \"%s\"", name);
	vn.data = name + 1;
	vn.len = strlen(name + 1);
	op = rw_op_add(cf, conf, RW_SET);
	/* variables are numbered from 1 so that the getter data is never NULL */
	idx = pt_var_defined_data(cf, vn, rw_var_get);
	if (idx == NULL) {
		idx = (void *)(intptr_t)(rm->nvars + 1);
		if (pt_var_define(cf, vn, rw_var_get, idx) != PT_OK)
			return pt_psprintf(cf->pool, "the variable \"%s\" cannot be set", name);
		rm->nvars++;
	}
	op->var = (int)(intptr_t)idx;
	op->text = pt_cv_compile(cf, cf->node->args[1], &err);
	(void)d;
	return op->text == NULL ? err : NULL;
}

/* the operand words of "if (...)": parentheses stripped */
static const char *
rw_if_words(struct pt_conf_ctx *cf, char ***wordsp, int *np)
{
	const struct pt_conf_node *n = cf->node;
	char **w = pt_palloc(cf->pool, sizeof(char *) * (size_t)(n->nargs + 1));
	int i, k = 0;
	size_t len;

	for (i = 0; i < n->nargs; i++)
		w[k++] = pt_pstrdup(cf->pool, n->args[i]);
	if (k == 0 || w[0][0] != '(')
		return "the condition must be written in parentheses";
	w[0]++;
	if (w[0][0] == '\0') {
		memmove(w, w + 1, sizeof(char *) * (size_t)--k);
	}
	if (k == 0)
		return "invalid condition";
	len = strlen(w[k - 1]);
	if (len == 0 || w[k - 1][len - 1] != ')')
		return "the condition must be written in parentheses";
	w[k - 1][len - 1] = '\0';
	if (len == 1)
		k--;
	if (k == 0)
		return "invalid condition";
	*wordsp = w;
	*np = k;
	return NULL;
}

static const char *
rewrite_if(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_http_loc *parent = cf->loc_conf[pt_mod_http_core.index], *l;
	void **saved = cf->loc_conf;
	struct rw_op *op;
	const char *err = NULL;
	char **w;
	int n, rc;

	(void)d;
	err = rw_if_words(cf, &w, &n);
	if (err != NULL)
		return err;
	op = rw_op_add(cf, conf, RW_IF);
	if (n == 1) {
		if (w[0][0] != '$')
			return pt_psprintf(cf->pool, "invalid condition \"%s\"", w[0]);
		op->cond = RW_COND_VAR;
		op->subject = pt_cv_compile(cf, w[0], &err);
	} else if (n == 2) {
		const char *t = w[0];

		if (t[0] == '!') {
			op->negate = 1;
			t++;
		}
		if (strcmp(t, "-f") == 0)
			op->cond = RW_COND_FILE;
		else if (strcmp(t, "-d") == 0)
			op->cond = RW_COND_DIR;
		else if (strcmp(t, "-e") == 0)
			op->cond = RW_COND_EXISTS;
		else
			return pt_psprintf(cf->pool, "invalid condition \"%s\" (supported: $var, = != "
			    "~ ~* !~ !~* -f -d -e)", w[0]);
		op->subject = pt_cv_compile(cf, w[1], &err);
	} else if (n == 3) {
		const char *o = w[1];

		if (w[0][0] != '$')
			return pt_psprintf(cf->pool, "invalid condition \"%s\"", w[0]);
		op->subject = pt_cv_compile(cf, w[0], &err);
		if (op->subject == NULL)
			return err;
		if (strcmp(o, "=") == 0 || strcmp(o, "!=") == 0) {
			op->cond = o[0] == '=' ? RW_COND_EQ : RW_COND_NE;
			op->text = pt_cv_compile(cf, w[2], &err);
			if (op->text == NULL)
				return err;
		} else if (strcmp(o, "~") == 0 || strcmp(o, "~*") == 0 || strcmp(o, "!~") == 0 ||
		    strcmp(o, "!~*") == 0) {
			op->cond = o[0] == '!' ? RW_COND_NOMATCH : RW_COND_MATCH;
			op->regex = pt_regex_compile(cf, w[2], o[strlen(o) - 1] == '*', &err);
			if (op->regex == NULL)
				return err;
		} else
			return pt_psprintf(cf->pool, "unexpected \"%s\" in condition", o);
	} else
		return "invalid condition";
	if (op->subject == NULL)
		return err;

	/* the block: a location-like level merged from the enclosing one */
	cf->loc_conf = pt_conf_create_level(cf, PT_LEVEL_LOC);
	l = cf->loc_conf[pt_mod_http_core.index];
	l->loc_conf = cf->loc_conf;
	l->name = parent->name;
	l->name_len = parent->name_len;
	l->is_if = 1;
	l->file = cf->node->file;
	l->line = cf->node->line;
	*(struct pt_http_loc **)pt_array_push(&parent->children) = l;
	rc = pt_conf_apply_block(cf, cf->node, PT_CTX_IF);
	cf->loc_conf = saved;
	op = (struct rw_op *)((struct rewrite_loc *)conf)->script->ops.elts +
	    ((struct rewrite_loc *)conf)->script->ops.nelts - 1;
	op->if_loc = l;
	op->if_script = ((struct rewrite_loc *)l->loc_conf[pt_mod_rewrite.index])->script;
	return rc == PT_OK ? NULL : "";
}

static const struct pt_directive rewrite_directives[] = {
	{ "return", PT_CTX_SERVER | PT_CTX_LOCATION | PT_CTX_IF, 0, 0, 1, 2, PT_LEVEL_LOC,
	  PT_NO_OFFSET, rewrite_return, NULL, NULL,
	  "stop processing and answer with a status and a text or redirect URL" },
	{ "rewrite", PT_CTX_SERVER | PT_CTX_LOCATION | PT_CTX_IF, PT_D_MULTI, 0, 2, 3,
	  PT_LEVEL_LOC, PT_NO_OFFSET, rewrite_rewrite, NULL, NULL,
	  "change the URI with a regex and a replacement [last|break|redirect|permanent]" },
	{ "set", PT_CTX_SERVER | PT_CTX_LOCATION | PT_CTX_IF, PT_D_MULTI, 0, 2, 2, PT_LEVEL_LOC,
	  PT_NO_OFFSET, rewrite_set, NULL, NULL, "set a variable to a value with variables" },
	{ "break", PT_CTX_SERVER | PT_CTX_LOCATION | PT_CTX_IF, 0, 0, 0, 0, PT_LEVEL_LOC,
	  PT_NO_OFFSET, rewrite_break, NULL, NULL, "stop the rewrite directives of this level" },
	{ "if", PT_CTX_SERVER | PT_CTX_LOCATION, PT_D_BLOCK | PT_D_MULTI, PT_CTX_IF, 1,
	  PT_D_ARGS_ANY, PT_LEVEL_LOC, PT_NO_OFFSET, rewrite_if, NULL, NULL,
	  "apply the block when the condition in parentheses holds" },
	{ "rewrite_log", PT_CTX_HTTP_ANY | PT_CTX_IF, 0, 0, 1, 1, PT_LEVEL_LOC,
	  offsetof(struct rewrite_loc, rewrite_log), pt_conf_set_flag, "off", NULL,
	  "log rewrite matches at notice level" },
	PT_DIRECTIVE_END
};

/*---- runtime (worker) ----*/

static int rw_run(struct pt_request *r, const struct rw_script *s, int *status);

/* "scheme://host[:port]" for relative redirect targets */
static struct pt_str
rw_absolute(struct pt_request *r, struct pt_str uri)
{
	struct pt_str out;
	int port;

	if (uri.len > 0 && uri.data[0] != '/')
		return uri;
	pt_conn_local_addr(r->c);
	port = pt_sockaddr_port(&r->c->local);
	out.data = port == 80 ? pt_psprintf(r->pool, "http://%.*s%.*s", (int)r->host.len,
	    r->host.data, (int)uri.len, uri.data) : pt_psprintf(r->pool, "http://%.*s:%d%.*s",
	    (int)r->host.len, r->host.data, port, (int)uri.len, uri.data);
	out.len = strlen(out.data);
	return out;
}

static int
rw_return(struct pt_request *r, const struct rw_op *op)
{
	struct pt_str text = PT_NULL_STR;
	int code = op->code;

	if (code == 444) {
		/* nginx's "close without a response" */
		r->keepalive = 0;
		r->close_reason = PT_CLOSE_DONE;
		return PT_ERROR;
	}
	if (op->text != NULL)
		pt_cv_eval(r, op->text, &text);
	if (code == 301 || code == 302 || code == 303 || code == 307 || code == 308) {
		if (op->text != NULL) {
			pt_http_out_add(r, PT_STR("Location"), text);
			text = PT_NULL_STR;
		}
		return code;	/* the standard error page body */
	}
	if (op->text == NULL) {
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

/* apply a matched rewrite; returns RW_NEXT/RW_STOP/RW_RESEARCH or sets *status */
static int
rw_rewrite(struct pt_request *r, const struct rw_op *op, int *status)
{
	struct rewrite_loc *rl = pt_http_loc_conf(r, &pt_mod_rewrite);
	struct pt_str v, uri, args;
	const char *q;

	pt_cv_eval(r, op->text, &v);
	if (rl->rewrite_log)
		pt_log(PT_LOG_NOTICE, 0, "\"%s\" matches \"%.*s\", rewritten to \"%.*s\"%s",
		    op->regex->pattern, (int)r->uri.len, r->uri.data, (int)v.len, v.data,
		    op->drop_args ? "?" : "");
	q = memchr(v.data, '?', v.len);
	uri = v;
	args = r->args;
	if (q != NULL) {
		uri.len = (size_t)(q - v.data);
		args.data = q + 1;
		args.len = v.len - uri.len - 1;
		if (!op->drop_args && r->args.len > 0) {
			args.data = pt_psprintf(r->pool, "%.*s&%.*s", (int)args.len, args.data,
			    (int)r->args.len, r->args.data);
			args.len = strlen(args.data);
		}
	} else if (op->drop_args)
		args = PT_NULL_STR;

	if (op->redirect || op->flag == RW_FLAG_REDIRECT || op->flag == RW_FLAG_PERMANENT) {
		struct pt_str loc = op->redirect ? uri : rw_absolute(r, uri);

		if (args.len > 0) {
			loc.data = pt_psprintf(r->pool, "%.*s?%.*s", (int)loc.len, loc.data,
			    (int)args.len, args.data);
			loc.len = strlen(loc.data);
		}
		pt_http_out_add(r, PT_STR("Location"), loc);
		*status = op->flag == RW_FLAG_PERMANENT ? 301 : 302;
		return RW_STOP;
	}
	if (uri.len == 0 || uri.data[0] != '/') {
		pt_log(PT_LOG_ERR, 0, "the rewritten URI \"%.*s\" does not start with a slash",
		    (int)uri.len, uri.data);
		*status = 500;
		return RW_STOP;
	}
	r->uri = uri;
	r->args = args;
	if (op->flag == RW_FLAG_BREAK)
		return RW_STOP;
	if (op->flag == RW_FLAG_LAST)
		return RW_RESEARCH;
	rw_uri_changed = 1;
	return RW_NEXT;
}

static int
rw_cond(struct pt_request *r, const struct rw_op *op)
{
	struct pt_str v, t;
	struct stat st;
	char *path;
	int m;

	pt_cv_eval(r, op->subject, &v);
	switch (op->cond) {
	case RW_COND_VAR:
		return !(v.len == 0 || (v.len == 1 && v.data[0] == '0'));
	case RW_COND_EQ:
	case RW_COND_NE:
		pt_cv_eval(r, op->text, &t);
		m = v.len == t.len && memcmp(v.data, t.data, v.len) == 0;
		return op->cond == RW_COND_EQ ? m : !m;
	case RW_COND_MATCH:
	case RW_COND_NOMATCH:
		m = pt_regex_exec(r, op->regex, v);
		if (m < 0)
			return -1;
		return op->cond == RW_COND_MATCH ? m : !m;
	default:
		/* a stat(2) of a local path, as nginx does (short, not network I/O) */
		path = pt_pstrndup(r->pool, v.data, v.len);
		m = stat(path, &st) == 0;
		if (m && op->cond == RW_COND_FILE)
			m = S_ISREG(st.st_mode);
		else if (m && op->cond == RW_COND_DIR)
			m = S_ISDIR(st.st_mode);
		return op->negate ? !m : m;
	}
}

/*
 * Run <s>. Returns RW_NEXT, RW_STOP or RW_RESEARCH; a response decided
 * by the script (return, redirect, error) is left in *status (a status,
 * PT_DONE or PT_ERROR), 0 otherwise.
 */
static int
rw_run(struct pt_request *r, const struct rw_script *s, int *status)
{
	const struct rw_op *op;
	size_t i;
	int m, rc;

	for (i = 0; i < s->ops.nelts; i++) {
		op = (const struct rw_op *)s->ops.elts + i;
		switch (op->type) {
		case RW_RETURN:
			*status = rw_return(r, op);
			return RW_STOP;
		case RW_BREAK:
			return RW_STOP;
		case RW_SET: {
			struct rewrite_main *rm = pt_http_main_conf(pt_worker.cycle, &pt_mod_rewrite);

			if (r->uvars == NULL)
				r->uvars = pt_pcalloc(r->pool, sizeof(struct pt_str) *
				    (size_t)rm->nvars);
			pt_cv_eval(r, op->text, &r->uvars[op->var - 1]);
			if (r->uvars[op->var - 1].data == NULL)
				r->uvars[op->var - 1].data = "";
			break;
		}
		case RW_REWRITE:
			m = pt_regex_exec(r, op->regex, r->uri);
			if (m < 0) {
				*status = 500;
				return RW_STOP;
			}
			if (m == 0)
				break;
			rc = rw_rewrite(r, op, status);
			if (rc != RW_NEXT)
				return rc;
			break;
		case RW_IF:
			m = rw_cond(r, op);
			if (m < 0) {
				*status = 500;
				return RW_STOP;
			}
			if (m == 0)
				break;
			r->loc = op->if_loc;
			r->loc_conf = op->if_loc->loc_conf;
			if (op->if_script == NULL)
				break;
			rc = rw_run(r, op->if_script, status);
			if (rc != RW_NEXT)
				return rc;
			break;
		}
	}
	return RW_NEXT;
}

static int
rewrite_handler(struct pt_request *r)
{
	struct rewrite_loc *rl = r->phase == PT_PHASE_SERVER_REWRITE ?
	    r->srv->loc_conf[pt_mod_rewrite.index] : pt_http_loc_conf(r, &pt_mod_rewrite);
	int status = 0, rc;

	if (rl == NULL || rl->script == NULL)
		return PT_DECLINED;
	/* no location matched: the server's script already ran */
	if (r->phase == PT_PHASE_REWRITE && r->loc == r->srv->root_loc)
		return PT_DECLINED;
	rw_uri_changed = 0;
	rc = rw_run(r, rl->script, &status);
	if (status != 0)
		return status;
	if (r->phase == PT_PHASE_SERVER_REWRITE)
		return PT_DECLINED;	/* the location search comes next anyway */
	if (rc == RW_RESEARCH || (rc == RW_NEXT && rw_uri_changed)) {
		if (++r->internal_redirects > 10) {
			pt_log(PT_LOG_ERR, 0, "rewrite or internal redirection cycle while "
			    "processing \"%.*s\"", (int)r->uri.len, r->uri.data);
			return 500;
		}
		r->loc = r->srv->root_loc;
		r->loc_conf = r->srv->loc_conf;
		r->phase = PT_PHASE_FIND_LOCATION;
		r->phase_handler = 0;
		pt_http_run_phases(r);
		return PT_DONE;
	}
	return PT_DECLINED;
}

static void
rewrite_conf_create(struct pt_conf_ctx *cf, enum pt_conf_level level, void *conf)
{
	(void)cf;
	(void)level;
	(void)conf;
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
	.conf_size = { [PT_LEVEL_HTTP] = sizeof(struct rewrite_main),
		       [PT_LEVEL_LOC] = sizeof(struct rewrite_loc) },
	.conf_create = rewrite_conf_create,
	.postconfig = rewrite_postconfig,
};
