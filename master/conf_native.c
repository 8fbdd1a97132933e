/*
 * conf_native.c: the native dialect reader, on libconfuse (master only).
 *
 * Native syntax (portico.conf(5) describes the same rules):
 *
 *   worker_processes = 2
 *   error_log = {"logs/error.log", "warn"}
 *   events { worker_connections = 1024 }
 *   http {
 *       include("mime.types")
 *       upstream "backend" { server = {"127.0.0.1:8081", "weight=2"}  keepalive = 16 }
 *       server {
 *           listen = "127.0.0.1:8080"
 *           listen = {"[::1]:8080", "default_server"}
 *           location "/" { proxy_pass = "http://backend"  proxy_set_header = {"Host", "$host"} }
 *           location "= /health" { return = {200, "ok"} }
 *       }
 *   }
 *
 * Rules:
 *  - A simple directive is "name = value" or "name = {v1, v2, ...}": one
 *    directive with those arguments, in file order. Writing it again is
 *    another occurrence (that is how repeatable directives such as listen
 *    or proxy_set_header are written); "name += v" appends arguments to
 *    the previous occurrence in the same block.
 *  - A directive without arguments (nginx "ip_hash;") is "name = true".
 *    For a directive whose arguments are optional, a single value true
 *    means "no arguments".
 *  - A block directive is "name { ... }" or, when it takes arguments,
 *    name "args" { ... }: the title string is split into arguments with
 *    the nginx dialect's quoting rules (location "~ \"^/a b\"" has two
 *    arguments). An empty title '' means no arguments. Two blocks with
 *    the same title stay two blocks (their setter decides, as in nginx).
 *  - The children of a raw block (types, map, ...) are written
 *    entry = {"key", "value", ...}: one entry per line of the nginx form.
 *  - include("PATH_OR_GLOB") reads files (either dialect) in place; paths
 *    are relative to the main configuration file's directory.
 *  - Values: unquoted words, "double quoted" or 'single quoted' strings.
 *    Single quotes are literal except \' and \\; double quotes know
 *    \n \t \r \" \\ \$ and expand ${NAME} from the environment, as do
 *    unquoted words. Write nginx variables as $name, or '${name}' in
 *    single quotes. Comments: #, // and / * ... * /.
 *  - Blocks nest at most PT_CONF_NATIVE_DEPTH levels deep in one file
 *    (main = 0, http = 1, server = 2, location = 3; so 7 nested locations).
 *
 * How: a libconfuse schema is generated for the context from every
 * module's directive table (block rows become CFG_SEC, other rows
 * CFG_PTR_LIST_CB) and the tree is built from callbacks while libconfuse
 * parses: a list value callback creates a node on the first value of an
 * assignment (opt->nvalues == 1) and adds later values to it; a section's
 * validate callback, called when it closes, attaches its node to the
 * parent; include() leaves a placeholder that is replaced by the files'
 * nodes after the parse (libconfuse's lexer is not reentrant, so a
 * native file must not be parsed from inside another parse). Nothing is
 * read back from the cfg_t, which is freed at once.
 *
 * libconfuse 3.3 miscounts lines after comments (each "#" or "//"
 * comment adds two lines), so comments are blanked out (newlines kept)
 * before the text is handed to it: "#" outside quotes anywhere, "//" and
 * "/ *" at the start of a word, as libconfuse's lexer sees them.
 */
#include <confuse.h>
#include <string.h>

#include "core.h"
#include "log.h"
#include "pool.h"
#include "conf_priv.h"

/* an open section with a node already created for it */
struct native_pending {
	cfg_t			*cfg;		/* section instance (the key) */
	struct pt_conf_node	*node;		/* its node */
	struct pt_conf_node	*tail;		/* last child of <node> */
	unsigned		 ctx;		/* context of the children */
};

/* an include() seen while parsing, read after the parse */
struct native_include {
	struct pt_conf_node	*ph;		/* placeholder node in the tree */
	struct pt_conf_node	*parent;	/* node that holds <ph> */
	const char		*pattern;	/* argument of include() */
	unsigned		 ctx;		/* context of <parent>'s children */
	struct native_include	*next;		/* next in file order */
};

/* state of one native parse */
struct native {
	struct pt_conf_reader	*rd;		/* reader (pool) */
	const char		*file;		/* file parsed (pooled) */
	struct native_pending	*stack;		/* open sections, innermost last */
	int			 nstack;	/* used entries of <stack> */
	int			 stack_size;	/* allocated entries */
	struct native_include	*incs;		/* includes in file order */
	struct native_include	**inc_last;	/* where to link the next */
	struct pt_conf_node	*zero;		/* last node made from "name = true" */
	int			*sec_lines;	/* line of each section, by closing order */
	int			 nsec_lines;	/* entries in <sec_lines> */
	int			 sec_lines_size;/* allocated entries */
	int			 nclosed;	/* sections closed so far */
	int			 open_at_end;	/* braces still open at the end */
	int			 nerrors;	/* errors reported (only the first is logged) */
};

/* the parse running (libconfuse callbacks carry no user pointer) */
static struct native *native_cur;

/* value of every CFGT_PTR option: only that it is set matters */
static char native_marker;

/* log the first error as "file:line: message" */
static void
native_report(struct native *nv, const char *file, int line, const char *msg)
{
	if (nv->nerrors++ > 0)
		return;
	pt_log(PT_LOG_EMERG, 0, "%s:%d: %s", file != NULL ? file : nv->file, line, msg);
}

/* libconfuse error function: rewrite "no such option" like conf_apply.c */
static void
native_errfn(cfg_t *cfg, const char *fmt, va_list ap)
{
	struct native *nv = native_cur;
	char msg[512], name[128], *q;
	const char *near;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (strncmp(msg, "no such option '", 16) == 0
	    && (q = strchr(msg + 16, '\'')) != NULL
	    && (size_t)(q - (msg + 16)) < sizeof(name)) {
		memcpy(name, msg + 16, (size_t)(q - (msg + 16)));
		name[q - (msg + 16)] = '\0';
		if (pt_conf_find(name, 0, NULL) != NULL)
			snprintf(msg, sizeof(msg), "\"%s\" directive is not allowed here", name);
		else if ((near = pt_conf_suggest(name)) != NULL)
			snprintf(msg, sizeof(msg), "unknown directive \"%s\" (did you mean \"%s\"?)",
			    name, near);
		else
			snprintf(msg, sizeof(msg), "unknown directive \"%s\"", name);
	}
	native_report(nv, cfg != NULL ? cfg->filename : NULL, cfg != NULL ? cfg->line : 0,
	    msg);
}

/* a node for section instance <sec> (name, title split into args) */
static struct pt_conf_node *
native_section_node(struct native *nv, cfg_t *sec)
{
	struct pt_conf_node *n;
	const char *err = NULL, *file;
	char msg[256];

	file = pt_conf_file_name(nv->rd, sec->filename != NULL ? sec->filename : nv->file);
	n = pt_conf_node_new(nv->rd, sec->name, file, sec->line);
	n->block = 1;
	if (sec->title != NULL && pt_conf_split_words(nv->rd->pool, sec->title, &n->args,
	    &n->nargs, &err) != PT_OK) {
		snprintf(msg, sizeof(msg), "bad title \"%s\" of \"%s\" block: %s", sec->title,
		    sec->name, err);
		native_report(nv, file, sec->line, msg);
		return NULL;
	}
	return n;
}

/* the pending entry for <cfg>, pushed (with its node) if absent */
static struct native_pending *
native_pending(struct native *nv, cfg_t *cfg, unsigned ctx)
{
	struct native_pending *p;
	struct pt_conf_node *n;
	int i;

	for (i = nv->nstack - 1; i >= 0; i--)
		if (nv->stack[i].cfg == cfg)
			return &nv->stack[i];
	if ((n = native_section_node(nv, cfg)) == NULL)
		return NULL;
	if (nv->nstack == nv->stack_size) {
		nv->stack_size = nv->stack_size ? nv->stack_size * 2 : 16;
		nv->stack = pt_xrealloc(nv->stack, sizeof(*nv->stack) * (size_t)nv->stack_size);
	}
	p = &nv->stack[nv->nstack++];
	p->cfg = cfg;
	p->node = n;
	p->tail = NULL;
	p->ctx = ctx;
	return p;
}

static void
native_append(struct native_pending *p, struct pt_conf_node *n)
{
	if (p->tail != NULL)
		p->tail->next = n;
	else
		p->node->children = n;
	p->tail = n;
}

/* list value callback: one node per assignment, later values are args */
static int
native_value(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result, unsigned ctx)
{
	struct native *nv = native_cur;
	const struct pt_directive *d;
	struct native_pending *p;
	struct pt_conf_node *n, *o;
	const char *file;
	char *v;

	*(void **)result = &native_marker;
	if ((p = native_pending(nv, cfg, ctx)) == NULL)
		return -1;
	v = pt_pstrdup(nv->rd->pool, value);

	if (opt->nvalues == 1) {
		file = pt_conf_file_name(nv->rd, cfg->filename != NULL ? cfg->filename
		    : nv->file);
		if (ctx == PT_CTX_RAW) {
			/* entry = {"key", "value", ...} */
			n = pt_conf_node_new(nv->rd, v, file, cfg->line);
		} else {
			n = pt_conf_node_new(nv->rd, opt->name, file, cfg->line);
			d = pt_conf_find(opt->name, ctx, NULL);
			if (strcmp(v, "true") == 0 && d != NULL && d->min_args == 0)
				nv->zero = n;
			else
				pt_conf_node_add_arg(nv->rd->pool, n, v);
		}
		native_append(p, n);
		return 0;
	}

	/* a further value of the same assignment, or "+=" */
	n = p->tail;
	if (n == NULL || n->block || (ctx != PT_CTX_RAW && strcmp(n->name, opt->name) != 0)) {
		n = NULL;
		for (o = p->node->children; o != NULL; o = o->next)
			if (!o->block && strcmp(o->name, opt->name) == 0)
				n = o;
		if (n == NULL) {
			cfg_error(cfg, "nothing to append to in \"%s\"", opt->name);
			return -1;
		}
	}
	if (n == nv->zero) {
		pt_conf_node_add_arg(nv->rd->pool, n, pt_pstrdup(nv->rd->pool, "true"));
		nv->zero = NULL;
	}
	pt_conf_node_add_arg(nv->rd->pool, n, v);
	return 0;
}

/* section validate callback: the section just closed; attach its node */
static int
native_close(cfg_t *cfg, cfg_opt_t *opt, unsigned ctx)
{
	struct native *nv = native_cur;
	struct native_pending *p;
	struct pt_conf_node *n;
	cfg_t *sec;

	sec = cfg_opt_getnsec(opt, opt->nvalues - 1);
	if (sec == NULL)
		return -1;
	if (nv->nstack > 0 && nv->stack[nv->nstack - 1].cfg == sec)
		n = nv->stack[--nv->nstack].node;
	else if ((n = native_section_node(nv, sec)) == NULL)
		return -1;
	if (nv->nclosed < nv->nsec_lines)
		n->line = nv->sec_lines[nv->nclosed];
	nv->nclosed++;
	if ((p = native_pending(nv, cfg, ctx)) == NULL)
		return -1;
	native_append(p, n);
	/*
	 * Everything is in the node now: free the section at once, so that
	 * memory stays bounded by the open sections (each instance holds a
	 * deep copy of its schema). It also keeps libconfuse from merging a
	 * later section with the same title into this one: duplicates are for
	 * the directive's setter to judge, as in the nginx dialect.
	 */
	cfg_opt_rmnsec(opt, opt->nvalues - 1);
	return 0;
}

/* include("glob"): leave a placeholder, read after the parse */
static int
native_include(cfg_t *cfg, cfg_opt_t *opt, int argc, const char **argv, unsigned ctx)
{
	struct native *nv = native_cur;
	struct native_include *inc;
	struct native_pending *p;
	const char *file;

	(void)opt;
	if (argc != 1) {
		cfg_error(cfg, "invalid number of arguments in \"include\" directive");
		return 1;
	}
	if ((p = native_pending(nv, cfg, ctx)) == NULL)
		return 1;
	file = pt_conf_file_name(nv->rd, cfg->filename != NULL ? cfg->filename : nv->file);
	inc = pt_pcalloc(nv->rd->pool, sizeof(*inc));
	inc->ph = pt_conf_node_new(nv->rd, "include", file, cfg->line);
	inc->parent = p->node;
	inc->pattern = pt_pstrdup(nv->rd->pool, argv[0]);
	inc->ctx = ctx;
	native_append(p, inc->ph);
	*nv->inc_last = inc;
	nv->inc_last = &inc->next;
	return 0;
}

static void
native_free(void *p)
{
	(void)p;
}

/* one set of callbacks per context: libconfuse passes no user data */
#define NATIVE_CBS(i, c)						\
static int								\
native_value_##i(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *r) \
{									\
	return native_value(cfg, opt, value, r, (c));			\
}									\
static int								\
native_close_##i(cfg_t *cfg, cfg_opt_t *opt)				\
{									\
	return native_close(cfg, opt, (c));				\
}									\
static int								\
native_include_##i(cfg_t *cfg, cfg_opt_t *opt, int argc, const char **argv) \
{									\
	return native_include(cfg, opt, argc, argv, (c));		\
}

NATIVE_CBS(0, 1u << 0)
NATIVE_CBS(1, 1u << 1)
NATIVE_CBS(2, 1u << 2)
NATIVE_CBS(3, 1u << 3)
NATIVE_CBS(4, 1u << 4)
NATIVE_CBS(5, 1u << 5)
NATIVE_CBS(6, 1u << 6)
NATIVE_CBS(7, 1u << 7)
NATIVE_CBS(8, 1u << 8)
NATIVE_CBS(9, PT_CTX_RAW)
NATIVE_CBS(10, 0u)

static const cfg_callback_t native_value_cbs[] = {
	native_value_0, native_value_1, native_value_2, native_value_3, native_value_4,
	native_value_5, native_value_6, native_value_7, native_value_8, native_value_9,
	native_value_10,
};
static const cfg_validate_callback_t native_close_cbs[] = {
	native_close_0, native_close_1, native_close_2, native_close_3, native_close_4,
	native_close_5, native_close_6, native_close_7, native_close_8, native_close_9,
	native_close_10,
};
static const cfg_func_t native_include_cbs[] = {
	native_include_0, native_include_1, native_include_2, native_include_3,
	native_include_4, native_include_5, native_include_6, native_include_7,
	native_include_8, native_include_9, native_include_10,
};

/* callback set of context <ctx>: bits 0-8, raw = 9, other/none = 10 */
static int
native_cb_index(unsigned ctx)
{
	if (ctx == PT_CTX_RAW)
		return 9;
	if (ctx != 0 && (ctx & (ctx - 1)) == 0 && ctx <= (1u << 8))
		return __builtin_ctz(ctx);
	return 10;
}

/* free a generated schema (not libconfuse's copies) */
static void
native_schema_free(cfg_opt_t *opts)
{
	cfg_opt_t *o;

	for (o = opts; o->name != NULL; o++)
		if (o->type == CFGT_SEC)
			native_schema_free(o->subopts);
	free(opts);
}

/* generate the option array of context <ctx> at block depth <depth> */
static cfg_opt_t *
native_schema(unsigned ctx, int depth)
{
	const struct pt_directive *d;
	struct pt_module *m;
	cfg_opt_t *opts, o;
	int i, n = 0, k = native_cb_index(ctx);
	unsigned flags, cctx;

	for (i = 0; (m = pt_modules[i]) != NULL; i++)
		for (d = m->directives; ctx != PT_CTX_RAW && d != NULL && d->name != NULL; d++)
			n++;
	opts = pt_xcalloc((size_t)n + 3, sizeof(cfg_opt_t));
	n = 0;
	if (ctx == PT_CTX_RAW) {
		o = (cfg_opt_t)CFG_PTR_LIST_CB("entry", NULL, CFGF_NODEFAULT,
		    native_value_cbs[k], native_free);
		opts[n++] = o;
	}
	for (i = 0; ctx != PT_CTX_RAW && (m = pt_modules[i]) != NULL; i++) {
		for (d = m->directives; d != NULL && d->name != NULL; d++) {
			if ((d->ctx & ctx) == 0)
				continue;
			if (d->flags & PT_D_BLOCK) {
				if (depth + 1 >= PT_CONF_NATIVE_DEPTH)
					continue;
				cctx = (d->flags & PT_D_RAW_BLOCK) ? PT_CTX_RAW : d->block_ctx;
				flags = CFGF_MULTI;
				if (d->max_args > 0)
					flags |= CFGF_TITLE;
				o = (cfg_opt_t)CFG_SEC(d->name, native_schema(cctx, depth + 1),
				    flags);
				o.validcb = native_close_cbs[k];
			} else {
				o = (cfg_opt_t)CFG_PTR_LIST_CB(d->name, NULL, CFGF_NODEFAULT,
				    native_value_cbs[k], native_free);
			}
			opts[n++] = o;
		}
	}
	o = (cfg_opt_t)CFG_FUNC("include", native_include_cbs[k]);
	opts[n++] = o;
	o = (cfg_opt_t)CFG_END();
	opts[n] = o;
	return opts;
}

/* replace placeholder <inc>->ph by the nodes of the files it names */
static int
native_do_include(struct native *nv, struct native_include *inc)
{
	struct pt_conf_node *first, *last, **link;
	int rc;

	rc = pt_conf_include(nv->rd, inc->pattern, inc->ph->file, inc->ph->line, inc->ctx,
	    &first);
	if (rc != PT_OK)
		return rc;
	for (link = &inc->parent->children; *link != inc->ph; link = &(*link)->next)
		PT_ASSERT(*link != NULL);
	if (first == NULL) {
		*link = inc->ph->next;
		return PT_OK;
	}
	for (last = first; last->next != NULL; last = last->next)
		;
	last->next = inc->ph->next;
	*link = first;
	return PT_OK;
}

/* is <c> a character after which a word starts (for comment rules)? */
static int
native_word_break(char c)
{
	return strchr(" \t\r\n={}(),+", c) != NULL;
}

/* add <v> to a heap int array */
static void
native_push_int(int **a, int *n, int *size, int v)
{
	if (*n == *size) {
		*size = *size ? *size * 2 : 32;
		*a = pt_xrealloc(*a, sizeof(int) * (size_t)*size);
	}
	(*a)[(*n)++] = v;
}

/*
 * Prepare the <len> bytes at <buf> for libconfuse: returns a heap copy
 * (caller frees) with every comment replaced by spaces, newlines kept.
 * Also records in <nv> the line of each section, in the order their
 * closing braces appear (which is the order libconfuse calls the section
 * validate callbacks), and the braces left open at the end.
 *
 * Section lines are taken from the text because libconfuse only keeps
 * the current line: a section's line is that of the word or string just
 * before its '{' (the title, or the name when there is none). A '{' after
 * '=' or '+=' opens a list instead.
 */
static char *
native_scan(struct native *nv, const char *buf, size_t len)
{
	char *out = pt_xmalloc(len + 1), q, c, last = '{';
	int *open = NULL, nopen = 0, open_size = 0;
	int line = 1, tok_line = 1, word_start = 1;
	size_t i = 0;

	memcpy(out, buf, len);
	out[len] = '\0';
	while (i < len) {
		c = out[i];
		if (c == '"' || c == '\'') {
			q = c;
			tok_line = line;
			for (i++; i < len && out[i] != q; i++) {
				if (out[i] == '\\' && i + 1 < len)
					i++;
				if (out[i] == '\n')
					line++;
			}
			i++;
			word_start = 0;
			last = 'w';
			continue;
		}
		if (c == '#' || (word_start && c == '/' && i + 1 < len && out[i + 1] == '/')) {
			for (; i < len && out[i] != '\n'; i++)
				out[i] = ' ';
			word_start = 1;
			continue;
		}
		if (word_start && c == '/' && i + 1 < len && out[i + 1] == '*') {
			for (; i < len && !(out[i] == '*' && i + 1 < len && out[i + 1] == '/'); i++) {
				if (out[i] == '\n')
					line++;
				else
					out[i] = ' ';
			}
			if (i < len)
				out[i++] = ' ';
			if (i < len)
				out[i++] = ' ';
			word_start = 1;
			continue;
		}
		switch (c) {
		case '\n':
			line++;
			break;
		case ' ': case '\t': case '\r':
			break;
		case '{':
			/* a list after "=" (or "+="): -1, a section: its line */
			native_push_int(&open, &nopen, &open_size, last == '=' ? -1 : tok_line);
			last = c;
			break;
		case '}':
			if (nopen > 0 && open[--nopen] >= 0)
				native_push_int(&nv->sec_lines, &nv->nsec_lines, &nv->sec_lines_size,
				    open[nopen]);
			last = c;
			break;
		case '=': case ',': case '(': case ')':
			last = c;
			break;
		case '+':
			if (i + 1 < len && out[i + 1] == '=')
				break;
			/* FALLTHROUGH */
		default:
			if (word_start)
				tok_line = line;
			last = 'w';
		}
		word_start = native_word_break(c);
		i++;
	}
	nv->open_at_end = nopen;
	free(open);
	return out;
}

/*
 * Parse the <len> bytes at <buf>, the contents of native-dialect file
 * <path> (pooled name), into <parent>, whose children are in context
 * <ctx>, then read its includes. Returns PT_OK or PT_ERROR (the first
 * error logged as file:line).
 */
int
pt_conf_native_parse(struct pt_conf_reader *rd, const char *buf, size_t len,
    const char *path, struct pt_conf_node *parent, unsigned ctx)
{
	struct native nv, *saved = native_cur;
	struct native_include *inc;
	cfg_opt_t *opts;
	char *text;
	FILE *fp;
	cfg_t *cfg;
	int rc, line;
	size_t i;

	memset(&nv, 0, sizeof(nv));
	nv.rd = rd;
	nv.file = path;
	nv.inc_last = &nv.incs;

	opts = native_schema(ctx, 0);
	cfg = cfg_init(opts, CFGF_NONE);
	native_schema_free(opts);
	if (cfg == NULL) {
		pt_log(PT_LOG_EMERG, 0, "%s: cfg_init() failed", path);
		return PT_ERROR;
	}
	cfg_set_error_function(cfg, native_errfn);

	nv.stack_size = 16;
	nv.stack = pt_xcalloc((size_t)nv.stack_size, sizeof(*nv.stack));
	nv.stack[0].cfg = cfg;
	nv.stack[0].node = parent;
	nv.stack[0].tail = pt_conf_node_last(parent);
	nv.stack[0].ctx = ctx;
	nv.nstack = 1;

	text = native_scan(&nv, buf, len);
	fp = len > 0 ? fmemopen(text, len, "r") : NULL;
	if (len == 0) {
		rc = CFG_SUCCESS;
	} else if (fp == NULL) {
		pt_log(PT_LOG_EMERG, errno, "fmemopen() failed");
		rc = CFG_PARSE_ERROR;
		nv.nerrors++;
	} else {
		cfg->filename = pt_xstrdup(path);
		native_cur = &nv;
		rc = cfg_parse_fp(cfg, fp);
		native_cur = saved;
		fclose(fp);
	}
	cfg_free(cfg);
	free(nv.stack);
	free(nv.sec_lines);
	free(text);

	if (rc == CFG_SUCCESS && nv.nerrors == 0 && nv.open_at_end > 0) {
		/* libconfuse 3.3 accepts a missing "}" at the end of the file */
		for (i = 0, line = 1; i < len; i++)
			line += buf[i] == '\n';
		pt_log(PT_LOG_EMERG, 0, "%s:%d: unexpected end of file, expecting \"}\"",
		    path, line);
		return PT_ERROR;
	}
	if (rc != CFG_SUCCESS || nv.nerrors > 0) {
		if (nv.nerrors == 0)
			pt_log(PT_LOG_EMERG, 0, "%s: syntax error", path);
		return PT_ERROR;
	}
	for (inc = nv.incs; inc != NULL; inc = inc->next)
		if (native_do_include(&nv, inc) != PT_OK)
			return PT_ERROR;
	return PT_OK;
}
