/*
 * conf_apply.c: apply a configuration tree to the modules' directive
 * tables, the generic typed setters, and the create/merge of per-level
 * module confs (master only).
 *
 * For each directive node of a block the row is found by (name, context)
 * across all modules (pt_conf_check_tables() makes that unique), the
 * argument count, block form and repetition are checked, and the row's
 * setter runs with the module's conf struct of the row's level. The first
 * error is logged as "file:line: message" and stops the apply.
 *
 * A setter's error text that does not quote the directive name gets
 * " in "NAME" directive" appended, so
 *	return pt_psprintf(cf->pool, "invalid value \"%s\"", v);
 * is logged as: invalid value "x" in "keepalive_timeout" directive.
 * A setter that already logged with pt_conf_error(), or whose nested
 * pt_conf_apply_block()/pt_conf_merge_level() failed (logged there), may
 * return any non-NULL text (or NULL): the directive fails and nothing is
 * logged a second time.
 */
#include <limits.h>
#include <string.h>

#include "core.h"
#include "log.h"
#include "pool.h"
#include "conf_priv.h"
#include "cycle.h"

/* kind of a generic slot, from the setter's address */
enum conf_slot {
	CONF_SLOT_NONE = 0,	/* custom setter */
	CONF_SLOT_INT,		/* flag, enum: int */
	CONF_SLOT_LONG,		/* num: long */
	CONF_SLOT_SIZE,		/* size: size_t */
	CONF_SLOT_MSEC,		/* msec: pt_msec_t */
	CONF_SLOT_STR,		/* str: char * */
	CONF_SLOT_BUFS,		/* bufs: struct pt_conf_bufs */
};

/* errors logged by pt_conf_error() so far (master is single-threaded) */
static unsigned conf_nerrors;

/* Returns the number of modules in pt_modules[] (NULL-terminated). */
int
pt_conf_nmodules(void)
{
	int n = 0;

	while (pt_modules[n] != NULL)
		n++;
	return n;
}

static enum conf_slot
conf_slot(const struct pt_directive *d)
{
	if (d->offset == PT_NO_OFFSET || d->level >= PT_LEVEL_NONE)
		return CONF_SLOT_NONE;
	if (d->set == pt_conf_set_flag || d->set == pt_conf_set_enum)
		return CONF_SLOT_INT;
	if (d->set == pt_conf_set_num)
		return CONF_SLOT_LONG;
	if (d->set == pt_conf_set_size)
		return CONF_SLOT_SIZE;
	if (d->set == pt_conf_set_msec)
		return CONF_SLOT_MSEC;
	if (d->set == pt_conf_set_str)
		return CONF_SLOT_STR;
	if (d->set == pt_conf_set_bufs)
		return CONF_SLOT_BUFS;
	return CONF_SLOT_NONE;
}

/* is the slot of kind <k> at <p> unset? */
static int
conf_slot_unset(enum conf_slot k, const void *p)
{
	switch (k) {
	case CONF_SLOT_INT:
		return *(const int *)p == PT_UNSET;
	case CONF_SLOT_LONG:
		return *(const long *)p == PT_UNSET;
	case CONF_SLOT_SIZE:
		return *(const size_t *)p == PT_UNSET_SIZE;
	case CONF_SLOT_MSEC:
		return *(const pt_msec_t *)p == PT_UNSET_MSEC;
	case CONF_SLOT_STR:
		return *(char *const *)p == NULL;
	case CONF_SLOT_BUFS:
		return ((const struct pt_conf_bufs *)p)->num == PT_UNSET;
	case CONF_SLOT_NONE:
		break;
	}
	return 0;
}

static void
conf_slot_reset(enum conf_slot k, void *p)
{
	switch (k) {
	case CONF_SLOT_INT:
		*(int *)p = PT_UNSET;
		break;
	case CONF_SLOT_LONG:
		*(long *)p = PT_UNSET;
		break;
	case CONF_SLOT_SIZE:
		*(size_t *)p = PT_UNSET_SIZE;
		break;
	case CONF_SLOT_MSEC:
		*(pt_msec_t *)p = PT_UNSET_MSEC;
		break;
	case CONF_SLOT_STR:
		*(char **)p = NULL;
		break;
	case CONF_SLOT_BUFS:
		((struct pt_conf_bufs *)p)->num = PT_UNSET;
		((struct pt_conf_bufs *)p)->size = PT_UNSET_SIZE;
		break;
	case CONF_SLOT_NONE:
		break;
	}
}

static size_t
conf_slot_size(enum conf_slot k)
{
	switch (k) {
	case CONF_SLOT_INT:
		return sizeof(int);
	case CONF_SLOT_LONG:
		return sizeof(long);
	case CONF_SLOT_SIZE:
		return sizeof(size_t);
	case CONF_SLOT_MSEC:
		return sizeof(pt_msec_t);
	case CONF_SLOT_STR:
		return sizeof(char *);
	case CONF_SLOT_BUFS:
		return sizeof(struct pt_conf_bufs);
	case CONF_SLOT_NONE:
		break;
	}
	return 0;
}

/*
 * Find the row named <name> allowed in <ctx> (any context if <ctx> is 0);
 * store its module in *<mp> when <mp> is not NULL. Returns NULL if none.
 */
const struct pt_directive *
pt_conf_find(const char *name, unsigned ctx, struct pt_module **mp)
{
	const struct pt_directive *d;
	int i;

	for (i = 0; pt_modules[i] != NULL; i++) {
		if (pt_modules[i]->directives == NULL)
			continue;
		for (d = pt_modules[i]->directives; d->name != NULL; d++) {
			if (strcmp(d->name, name) != 0)
				continue;
			if (ctx != 0 && (d->ctx & ctx) == 0)
				continue;
			if (mp != NULL)
				*mp = pt_modules[i];
			return d;
		}
	}
	return NULL;
}

/*
 * Returns the context of the children of block directive <name> written
 * in context <ctx>: PT_CTX_RAW for raw blocks, 0 when <name> is not a
 * block directive there.
 */
unsigned
pt_conf_child_ctx(const char *name, unsigned ctx)
{
	const struct pt_directive *d = pt_conf_find(name, ctx, NULL);

	if (d == NULL || !(d->flags & PT_D_BLOCK))
		return 0;
	return (d->flags & PT_D_RAW_BLOCK) ? PT_CTX_RAW : d->block_ctx;
}

/* Levenshtein distance of <a> and <b>, capped at <cap>+1 */
static size_t
conf_distance(const char *a, const char *b, size_t cap)
{
	size_t la = strlen(a), lb = strlen(b), i, j, best, prev, cur, tmp;
	size_t row[64];

	if (lb >= PT_NELEM(row) || la >= 64)
		return cap + 1;
	if ((la > lb ? la - lb : lb - la) > cap)
		return cap + 1;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		best = row[0];
		for (j = 1; j <= lb; j++) {
			cur = row[j];
			tmp = prev + (a[i - 1] != b[j - 1]);
			tmp = PT_MIN(tmp, row[j] + 1);
			tmp = PT_MIN(tmp, row[j - 1] + 1);
			row[j] = tmp;
			prev = cur;
			best = PT_MIN(best, tmp);
		}
		if (best > cap)
			return cap + 1;
	}
	return row[lb];
}

/*
 * Returns the directive name closest to the unknown <name>: edit distance
 * at most 2, or one a prefix of the other (3 characters at least); the
 * smallest distance wins. NULL if nothing is close.
 */
const char *
pt_conf_suggest(const char *name)
{
	const struct pt_directive *d;
	const char *best = NULL;
	size_t bestd = 4, dist, ln = strlen(name), lr;
	int i;

	for (i = 0; pt_modules[i] != NULL; i++) {
		if (pt_modules[i]->directives == NULL)
			continue;
		for (d = pt_modules[i]->directives; d->name != NULL; d++) {
			dist = conf_distance(name, d->name, 2);
			if (dist > 2) {
				lr = strlen(d->name);
				dist = PT_MIN(ln, lr) >= 3
				    && strncmp(name, d->name, PT_MIN(ln, lr)) == 0 ? 3 : SIZE_MAX;
			}
			if (dist < bestd) {
				bestd = dist;
				best = d->name;
			}
		}
	}
	return best;
}

/*
 * Check every module's directive table once at startup. Returns PT_OK, or
 * PT_ERROR after logging each problem.
 */
int
pt_conf_check_tables(void)
{
	const struct pt_directive *d, *e;
	struct pt_module *m, *o;
	int i, j, rc = PT_OK;

	for (i = 0; (m = pt_modules[i]) != NULL; i++) {
		if (m->directives == NULL)
			continue;
		for (d = m->directives; d->name != NULL; d++) {
			if (strcmp(d->name, "include") == 0 || d->name[0] == '\0') {
				pt_log(PT_LOG_EMERG, 0, "module %s: directive name \"%s\" is reserved",
				    m->name, d->name);
				rc = PT_ERROR;
			}
			if (d->set == NULL || d->ctx == 0 || d->min_args > d->max_args) {
				pt_log(PT_LOG_EMERG, 0, "module %s: bad table row for \"%s\""
				    " (setter, contexts or argument counts)", m->name, d->name);
				rc = PT_ERROR;
			}
			if ((d->flags & PT_D_BLOCK) && !(d->flags & PT_D_RAW_BLOCK)
			    && (d->block_ctx == 0 || (d->block_ctx & (d->block_ctx - 1)) != 0)) {
				pt_log(PT_LOG_EMERG, 0, "module %s: block directive \"%s\" needs"
				    " exactly one block context", m->name, d->name);
				rc = PT_ERROR;
			}
			if ((d->set == pt_conf_set_flag || d->set == pt_conf_set_num
			    || d->set == pt_conf_set_size || d->set == pt_conf_set_msec
			    || d->set == pt_conf_set_str || d->set == pt_conf_set_enum)
			    && (conf_slot(d) == CONF_SLOT_NONE
			    || d->offset + conf_slot_size(conf_slot(d)) > m->conf_size[d->level])) {
				pt_log(PT_LOG_EMERG, 0, "module %s: generic directive \"%s\" has no"
				    " valid slot", m->name, d->name);
				rc = PT_ERROR;
			}
			if (d->set == pt_conf_set_enum && d->post == NULL) {
				pt_log(PT_LOG_EMERG, 0, "module %s: enum directive \"%s\" has no"
				    " names", m->name, d->name);
				rc = PT_ERROR;
			}
			/* later rows with the same name and an overlapping context */
			for (j = i; (o = pt_modules[j]) != NULL; j++) {
				if (o->directives == NULL)
					continue;
				for (e = j == i ? d + 1 : o->directives; e->name != NULL; e++) {
					if (strcmp(d->name, e->name) != 0 || (d->ctx & e->ctx) == 0)
						continue;
					pt_log(PT_LOG_EMERG, 0, "directive \"%s\" is declared twice for"
					    " the same context (modules %s and %s)", d->name,
					    m->name, o->name);
					rc = PT_ERROR;
				}
			}
		}
	}
	return rc;
}

/*
 * Log "<file>:<line>: <fmt>" at emerg for the node being applied (without
 * a position when there is none). The apply step treats the directive as
 * failed whatever its setter returns.
 */
void
pt_conf_error(struct pt_conf_ctx *cf, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_nerrors++;
	if (cf != NULL && cf->node != NULL && cf->node->file != NULL)
		pt_log(PT_LOG_EMERG, 0, "%s:%d: %s", cf->node->file, cf->node->line, msg);
	else
		pt_log(PT_LOG_EMERG, 0, "%s", msg);
}

/* Parse "on"/"off": returns 1, 0, or -1 for anything else. */
int
pt_conf_parse_flag(const char *s)
{
	if (strcmp(s, "on") == 0)
		return 1;
	if (strcmp(s, "off") == 0)
		return 0;
	return -1;
}

/* the slot of <d> in <conf>, after the common checks; NULL + *err on error */
static void *
conf_generic_slot(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf,
    const char **err)
{
	void *p;

	PT_ASSERT(conf != NULL && d->offset != PT_NO_OFFSET);
	/* the row's min/max_args were checked by the apply step */
	if (cf->node == NULL || cf->node->nargs < 1) {
		*err = pt_psprintf(cf->pool, "invalid number of arguments in \"%s\" directive",
		    d->name);
		return NULL;
	}
	p = (char *)conf + d->offset;
	if (!conf_slot_unset(conf_slot(d), p)) {
		*err = pt_psprintf(cf->pool, "\"%s\" directive is duplicate", d->name);
		return NULL;
	}
	return p;
}

/* "invalid value "x" in "name" directive" + <hint> */
static const char *
conf_invalid(struct pt_conf_ctx *cf, const struct pt_directive *d, const char *hint)
{
	return pt_psprintf(cf->pool, "invalid value \"%s\" in \"%s\" directive%s",
	    cf->node->args[0], d->name, hint);
}

/* Generic setter: int slot, "on" = 1, "off" = 0. Returns NULL or an error. */
const char *
pt_conf_set_flag(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const char *err = NULL;
	int *p, v;

	if ((p = conf_generic_slot(cf, d, conf, &err)) == NULL)
		return err;
	if ((v = pt_conf_parse_flag(cf->node->args[0])) < 0)
		return conf_invalid(cf, d, ", it must be \"on\" or \"off\"");
	*p = v;
	return NULL;
}

/*
 * Generic setter: long slot, decimal integer within the pt_conf_bounds at
 * d->post (any long when NULL). Returns NULL or an error.
 */
const char *
pt_conf_set_num(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const struct pt_conf_bounds *b = d->post;
	const char *err = NULL;
	long *p, v, min = LONG_MIN, max = LONG_MAX;

	if ((p = conf_generic_slot(cf, d, conf, &err)) == NULL)
		return err;
	if (b != NULL) {
		min = b->min;
		max = b->max;
	}
	if (pt_parse_int(cf->node->args[0], LONG_MIN, LONG_MAX, &v) != PT_OK)
		return conf_invalid(cf, d, ", it must be a number");
	if (v < min || v > max)
		return conf_invalid(cf, d, pt_psprintf(cf->pool,
		    ", it must be between %ld and %ld", min, max));
	*p = v;
	return NULL;
}

/* Generic setter: size_t slot, "512", "8k", "1m", "1g". */
const char *
pt_conf_set_size(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const char *err = NULL;
	size_t *p, v;

	if ((p = conf_generic_slot(cf, d, conf, &err)) == NULL)
		return err;
	if (pt_parse_size(cf->node->args[0], &v) != PT_OK || v == PT_UNSET_SIZE)
		return conf_invalid(cf, d, ", it must be a size like 512, 8k, 1m or 1g");
	*p = v;
	return NULL;
}

/* Generic setter: pt_msec_t slot, "500ms", "30s", "5m", "1h", "2d", "30". */
const char *
pt_conf_set_msec(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const char *err = NULL;
	pt_msec_t *p, v;

	if ((p = conf_generic_slot(cf, d, conf, &err)) == NULL)
		return err;
	if (pt_parse_msec(cf->node->args[0], &v) != PT_OK || v == PT_UNSET_MSEC)
		return conf_invalid(cf, d,
		    ", it must be a time like 500ms, 30s, 5m, 1h or 2d");
	*p = v;
	return NULL;
}

/* Generic setter: struct pt_conf_bufs slot, "NUMBER SIZE". */
const char *
pt_conf_set_bufs(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const size_t *min = d->post;
	const char *err = NULL;
	struct pt_conf_bufs *p, v;

	if ((p = conf_generic_slot(cf, d, conf, &err)) == NULL)
		return err;
	if (cf->node->nargs != 2 || pt_parse_int(cf->node->args[0], 1, 1024, &v.num) != PT_OK ||
	    pt_parse_size(cf->node->args[1], &v.size) != PT_OK ||
	    (min != NULL && v.size < *min))
		return conf_invalid(cf, d, ", it must be a count (1-1024) and a size like 8k");
	*p = v;
	return NULL;
}

/* Generic setter: char * slot, the argument copied into cf->pool. */
const char *
pt_conf_set_str(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const char *err = NULL;
	char **p;

	if ((p = conf_generic_slot(cf, d, conf, &err)) == NULL)
		return err;
	*p = pt_pstrdup(cf->pool, cf->node->args[0]);
	return NULL;
}

/*
 * Generic setter: int slot, the index of the argument in the
 * NULL-terminated name list at d->post (empty names are skipped).
 */
const char *
pt_conf_set_enum(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const char *const *names = d->post;
	const char *err = NULL, *sep = "";
	char *hint;
	int *p, i;

	if ((p = conf_generic_slot(cf, d, conf, &err)) == NULL)
		return err;
	for (i = 0; names[i] != NULL; i++) {
		if (names[i][0] != '\0' && strcmp(names[i], cf->node->args[0]) == 0) {
			*p = i;
			return NULL;
		}
	}
	hint = pt_pstrdup(cf->pool, ", it must be one of:");
	for (i = 0; names[i] != NULL; i++) {
		if (names[i][0] == '\0')
			continue;
		hint = pt_psprintf(cf->pool, "%s%s \"%s\"", hint, sep, names[i]);
		sep = ",";
	}
	return conf_invalid(cf, d, hint);
}

/* log a directive error at <n> */
static void
conf_node_error(const struct pt_conf_node *n, const char *msg)
{
	conf_nerrors++;
	pt_log(PT_LOG_EMERG, 0, "%s:%d: %s", n->file, n->line, msg);
}

/* the conf struct a row writes into, by level */
static void *
conf_target(struct pt_conf_ctx *cf, const struct pt_directive *d, struct pt_module *m)
{
	void **a;

	switch (d->level) {
	case PT_LEVEL_CORE:
		a = cf->cycle->core_conf;
		break;
	case PT_LEVEL_HTTP:
		a = cf->http_conf;
		break;
	case PT_LEVEL_SRV:
		a = cf->srv_conf;
		break;
	case PT_LEVEL_LOC:
		a = cf->loc_conf;
		break;
	default:
		return NULL;
	}
	return a != NULL ? a[m->index] : NULL;
}

/* check one node against its row; returns an error text or NULL */
static const char *
conf_check_node(struct pt_conf_ctx *cf, const struct pt_conf_node *block,
    const struct pt_conf_node *n, unsigned ctx, const struct pt_directive **dp,
    struct pt_module **mp)
{
	const struct pt_directive *d;
	const struct pt_conf_node *o;
	const char *near;

	d = pt_conf_find(n->name, ctx, mp);
	if (d == NULL) {
		if (pt_conf_find(n->name, 0, NULL) != NULL)
			return pt_psprintf(cf->pool, "\"%s\" directive is not allowed here",
			    n->name);
		near = pt_conf_suggest(n->name);
		if (near != NULL)
			return pt_psprintf(cf->pool,
			    "unknown directive \"%s\" (did you mean \"%s\"?)", n->name, near);
		return pt_psprintf(cf->pool, "unknown directive \"%s\"", n->name);
	}
	*dp = d;
	if (n->nargs < d->min_args
	    || (d->max_args != PT_D_ARGS_ANY && n->nargs > d->max_args))
		return pt_psprintf(cf->pool, "invalid number of arguments in \"%s\" directive",
		    n->name);
	if ((d->flags & PT_D_BLOCK) && !n->block && !(d->flags & PT_D_OPT_BLOCK))
		return pt_psprintf(cf->pool, "\"%s\" directive has no opening \"{\"", n->name);
	if (!(d->flags & PT_D_BLOCK) && n->block)
		return pt_psprintf(cf->pool, "\"%s\" directive takes no block", n->name);
	if (!(d->flags & PT_D_MULTI)) {
		for (o = block->children; o != n; o = o->next)
			if (strcmp(o->name, n->name) == 0)
				return pt_psprintf(cf->pool, "\"%s\" directive is duplicate",
				    n->name);
	}
	return NULL;
}

/* append " in "name" directive" unless <msg> already quotes the name */
static const char *
conf_name_msg(struct pt_conf_ctx *cf, const char *name, const char *msg)
{
	char *q = pt_psprintf(cf->pool, "\"%s\"", name);

	if (strstr(msg, q) != NULL)
		return msg;
	return pt_psprintf(cf->pool, "%s in %s directive", msg, q);
}

/*
 * Apply the children of <block> in context <ctx> (see conf.h). Returns
 * PT_OK or PT_ERROR; the first error is logged as file:line and stops.
 */
int
pt_conf_apply_block(struct pt_conf_ctx *cf, const struct pt_conf_node *block,
    unsigned ctx)
{
	const struct pt_conf_node *n, *saved_node = cf->node;
	const struct pt_directive *d = NULL;
	struct pt_module *m = NULL;
	unsigned saved_ctx = cf->ctx, before;
	const char *msg;
	int rc = PT_OK;

	for (n = block->children; n != NULL; n = n->next) {
		cf->ctx = ctx;
		cf->node = n;
		msg = conf_check_node(cf, block, n, ctx, &d, &m);
		if (msg != NULL) {
			conf_node_error(n, msg);
			rc = PT_ERROR;
			break;
		}
		before = conf_nerrors;
		msg = d->set(cf, d, conf_target(cf, d, m));
		cf->ctx = ctx;
		cf->node = n;
		if (conf_nerrors != before) {
			rc = PT_ERROR;
			break;
		}
		if (msg != NULL) {
			conf_node_error(n, conf_name_msg(cf, d->name, msg));
			rc = PT_ERROR;
			break;
		}
	}
	cf->ctx = saved_ctx;
	cf->node = saved_node;
	return rc;
}

/*
 * Allocate every module's conf struct of <level> from cf->pool, set its
 * generic slots to unset and call the module's conf_create. Returns an
 * array indexed by module index (NULL where a module has no struct).
 */
void **
pt_conf_create_level(struct pt_conf_ctx *cf, enum pt_conf_level level)
{
	const struct pt_directive *d;
	struct pt_module *m;
	void **confs;
	int i, n = pt_conf_nmodules();

	PT_ASSERT(level < PT_LEVEL_MAX);
	confs = pt_pcalloc(cf->pool, sizeof(void *) * (size_t)(n + 1));
	for (i = 0; i < n; i++) {
		m = pt_modules[i];
		if (m->conf_size[level] == 0)
			continue;
		confs[m->index] = pt_pcalloc(cf->pool, m->conf_size[level]);
		if (m->directives != NULL) {
			for (d = m->directives; d->name != NULL; d++)
				if (d->level == level && conf_slot(d) != CONF_SLOT_NONE)
					conf_slot_reset(conf_slot(d),
					    (char *)confs[m->index] + d->offset);
		}
		if (m->conf_create != NULL)
			m->conf_create(cf, level, confs[m->index]);
	}
	return confs;
}

/* apply the default text of <d> to its unset slot in <conf> */
static int
conf_default(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const struct pt_conf_node *saved = cf->node;
	struct pt_conf_node fake;
	const char *err = NULL;

	char *args[3];

	/*
	 * Generic slots take one argument: the default text is that argument;
	 * a "NUMBER SIZE" slot takes the two words of its default.
	 */
	args[0] = (char *)d->def;
	args[1] = args[2] = NULL;
	memset(&fake, 0, sizeof(fake));
	fake.nargs = 1;
	if (conf_slot(d) == CONF_SLOT_BUFS && strchr(d->def, ' ') != NULL) {
		const char *sp = strchr(d->def, ' ');

		args[0] = pt_pstrndup(cf->pool, d->def, (size_t)(sp - d->def));
		args[1] = pt_pstrdup(cf->pool, sp + 1);
		fake.nargs = 2;
	}
	fake.name = d->name;
	fake.args = args;
	fake.file = "default value";
	fake.line = 0;
	cf->node = &fake;
	err = d->set(cf, d, conf);
	cf->node = saved;
	if (err != NULL) {
		conf_nerrors++;
		pt_log(PT_LOG_EMERG, 0, "bad default \"%s\" of \"%s\" directive: %s",
		    d->def, d->name, err);
		return PT_ERROR;
	}
	return PT_OK;
}

/*
 * Merge <child>'s <level> confs: each unset generic slot takes <parent>'s
 * value, or the row's default when the parent has none (or <parent> is
 * NULL); then each module's conf_merge runs. Returns PT_OK or PT_ERROR
 * (logged).
 */
int
pt_conf_merge_level(struct pt_conf_ctx *cf, enum pt_conf_level level, void **parent,
    void **child)
{
	const struct pt_directive *d;
	struct pt_module *m;
	enum conf_slot k;
	const char *err;
	void *pc, *cc, *ps, *cs;
	unsigned before;
	int i, n = pt_conf_nmodules();

	for (i = 0; i < n; i++) {
		m = pt_modules[i];
		if (m->conf_size[level] == 0)
			continue;
		cc = child[m->index];
		pc = parent != NULL ? parent[m->index] : NULL;
		for (d = m->directives; d != NULL && d->name != NULL; d++) {
			if (d->level != level || (k = conf_slot(d)) == CONF_SLOT_NONE)
				continue;
			cs = (char *)cc + d->offset;
			if (!conf_slot_unset(k, cs))
				continue;
			ps = pc != NULL ? (char *)pc + d->offset : NULL;
			if (ps != NULL && !conf_slot_unset(k, ps))
				memcpy(cs, ps, conf_slot_size(k));
			else if (d->def != NULL && conf_default(cf, d, cc) != PT_OK)
				return PT_ERROR;
		}
		if (m->conf_merge != NULL) {
			before = conf_nerrors;
			err = m->conf_merge(cf, level, pc, cc);
			if (err != NULL && conf_nerrors == before)
				pt_conf_error(cf, "%s", err);
			if (err != NULL || conf_nerrors != before)
				return PT_ERROR;
		}
	}
	return PT_OK;
}
