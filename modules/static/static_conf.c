/*
 * static_conf.c: the static file module's directives (master, config
 * time): root, alias, index, try_files, types, disable_symlinks, etag,
 * sendfile, max_ranges.
 */
#include "static.h"

#define SL(f)	offsetof(struct static_loc, f)

/* used when no level has a types { } block (nginx's built-in three) */
static struct static_type static_builtin_types[] = {
	{ "gif", PT_STR("image/gif") },
	{ "html", PT_STR("text/html") },
	{ "jpg", PT_STR("image/jpeg") },
};
struct static_types static_default_types = { static_builtin_types, 3 };

static struct pt_cv *
static_path_cv(struct pt_conf_ctx *cf, const char *text, const char **err)
{
	/* a constant relative path is resolved against the prefix now */
	if (strchr(text, '$') == NULL && text[0] != '/')
		text = pt_cycle_path(cf->cycle, text);
	return pt_cv_compile(cf, text, err);
}

static const char *
static_root(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct static_loc *sl = conf;
	struct pt_http_loc *loc = cf->loc_conf[pt_mod_http_core.index];
	const char *err = NULL, *text = cf->node->args[0];
	int alias = d->name[0] == 'a';
	size_t len = strlen(text);

	if (sl->root_set)
		return pt_psprintf(cf->pool, "\"%s\" directive is duplicate, \"%s\" was specified "
		    "earlier", d->name, sl->alias ? "alias" : "root");
	if (alias && (cf->ctx != PT_CTX_LOCATION || loc->named))
		return pt_psprintf(cf->pool, "\"alias\" directive is allowed in (not named) "
		    "locations only");
	if (alias && loc->regex == NULL && len > 0 && text[len - 1] != '/' &&
	    loc->name_len > 0 && loc->name[loc->name_len - 1] == '/')
		pt_log(PT_LOG_WARN, 0, "%s:%d: \"alias %s\" in location \"%s\": the location ends "
		    "with \"/\" but the alias does not", cf->node->file, cf->node->line, text,
		    loc->name);
	sl->root = static_path_cv(cf, text, &err);
	if (sl->root == NULL)
		return err;
	sl->root_set = 1;
	sl->alias = alias;
	sl->alias_regex = alias && loc->regex != NULL;
	if (alias) {
		sl->loc_name.data = loc->name;
		sl->loc_name.len = loc->name_len;
	}
	return NULL;
}

static const char *
static_index(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct static_loc *sl = conf;
	const char *err = NULL;
	int i;

	if (sl->index != NULL)
		return pt_psprintf(cf->pool, "\"%s\" directive is duplicate", d->name);
	sl->index = pt_palloc(cf->pool, sizeof(*sl->index));
	pt_array_init(sl->index, cf->pool, (size_t)cf->node->nargs, sizeof(struct pt_cv *));
	for (i = 0; i < cf->node->nargs; i++) {
		const char *a = cf->node->args[i];
		struct pt_cv *cv;

		if (a[0] == '\0')
			return pt_psprintf(cf->pool, "index %d in \"%s\" directive is invalid", i + 1,
			    d->name);
		if (a[0] == '/' && i != cf->node->nargs - 1)
			return pt_psprintf(cf->pool, "only the last index in \"%s\" directive should "
			    "be absolute", d->name);
		if ((cv = pt_cv_compile(cf, a, &err)) == NULL)
			return err;
		*(struct pt_cv **)pt_array_push(sl->index) = cv;
	}
	return NULL;
}

static const char *
static_try_files(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct static_loc *sl = conf;
	const char *err = NULL;
	int i, n = cf->node->nargs;

	if (sl->try_files != NULL)
		return pt_psprintf(cf->pool, "\"%s\" directive is duplicate", d->name);
	sl->try_files = pt_palloc(cf->pool, sizeof(*sl->try_files));
	pt_array_init(sl->try_files, cf->pool, (size_t)n, sizeof(struct pt_cv *));
	for (i = 0; i < n; i++) {
		const char *a = cf->node->args[i];
		struct pt_cv *cv;

		if (i == n - 1 && a[0] == '=') {
			long code;

			if (pt_parse_int(a + 1, 100, 999, &code) != PT_OK)
				return pt_psprintf(cf->pool, "invalid code \"%s\"", a);
			sl->try_code = (int)code;
			break;
		}
		if (a[0] == '\0')
			return pt_psprintf(cf->pool, "empty argument in \"%s\" directive", d->name);
		if (a[0] == '@' && i != n - 1)
			return pt_psprintf(cf->pool, "named location \"%s\" can only be the last "
			    "argument of \"%s\"", a, d->name);
		if ((cv = pt_cv_compile(cf, a, &err)) == NULL)
			return err;
		*(struct pt_cv **)pt_array_push(sl->try_files) = cv;
	}
	return NULL;
}

static int
static_type_cmp(const void *a, const void *b)
{
	return strcmp(((const struct static_type *)a)->ext, ((const struct static_type *)b)->ext);
}

static const char *
static_types(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct static_loc *sl = conf;
	const struct pt_conf_node *c;
	struct static_types *t;
	int n = 0, i, k;

	if (sl->types != NULL)
		return pt_psprintf(cf->pool, "\"%s\" directive is duplicate", d->name);
	for (c = cf->node->children; c != NULL; c = c->next)
		n += c->nargs;
	t = pt_pcalloc(cf->pool, sizeof(*t));
	t->map = pt_pcalloc(cf->pool, sizeof(*t->map) * (size_t)(n > 0 ? n : 1));
	for (c = cf->node->children; c != NULL; c = c->next) {
		if (c->block || c->nargs == 0 || strchr(c->name, '/') == NULL) {
			pt_log(PT_LOG_EMERG, 0, "%s:%d: invalid entry \"%s\" in \"types\": expected "
			    "\"TYPE EXTENSION ...\"", c->file, c->line, c->name);
			return "";
		}
		for (i = 0; i < c->nargs; i++) {
			char *ext = pt_pstrdup(cf->pool, c->args[i]);
			struct static_type *e = NULL;

			for (k = 0; ext[k] != '\0'; k++)
				ext[k] = (char)(ext[k] >= 'A' && ext[k] <= 'Z' ? ext[k] + 32 : ext[k]);
			/* a later duplicate wins, as in nginx (with a warning there too) */
			for (k = 0; k < t->n; k++)
				if (strcmp(t->map[k].ext, ext) == 0)
					e = &t->map[k];
			if (e != NULL)
				pt_log(PT_LOG_WARN, 0, "%s:%d: duplicate extension \"%s\", type "
				    "\"%s\" replaces \"%.*s\"", c->file, c->line, ext, c->name,
				    (int)e->type.len, e->type.data);
			else
				e = &t->map[t->n++];
			e->ext = ext;
			e->type.data = pt_pstrdup(cf->pool, c->name);
			e->type.len = strlen(c->name);
		}
	}
	qsort(t->map, (size_t)t->n, sizeof(*t->map), static_type_cmp);
	sl->types = t;
	return NULL;
}

static const struct pt_conf_bounds static_ranges_bounds = { 0, 1024 };

static const struct pt_directive static_directives[] = {
	{ "root", PT_CTX_HTTP_ANY | PT_CTX_IF, 0, 0, 1, 1, PT_LEVEL_LOC, PT_NO_OFFSET,
	  static_root, NULL, NULL, "directory that URIs are appended to for files (default html)" },
	{ "alias", PT_CTX_LOCATION, 0, 0, 1, 1, PT_LEVEL_LOC, PT_NO_OFFSET, static_root, NULL,
	  NULL, "path that replaces the location prefix (or the whole path in a regex location)" },
	{ "index", PT_CTX_HTTP_ANY, 0, 0, 1, PT_D_ARGS_ANY, PT_LEVEL_LOC, PT_NO_OFFSET,
	  static_index, NULL, NULL, "files tried for a URI ending with / (default index.html)" },
	{ "try_files", PT_CTX_SERVER | PT_CTX_LOCATION, 0, 0, 2, PT_D_ARGS_ANY, PT_LEVEL_LOC,
	  PT_NO_OFFSET, static_try_files, NULL, NULL,
	  "first existing file, else the last argument (=CODE, @name or URI)" },
	{ "types", PT_CTX_HTTP_ANY, PT_D_BLOCK | PT_D_RAW_BLOCK, 0, 0, 0, PT_LEVEL_LOC,
	  PT_NO_OFFSET, static_types, NULL, NULL, "MIME types by file name extension" },
	{ "disable_symlinks", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, SL(disable_symlinks),
	  pt_conf_set_flag, "off", NULL, "refuse files with a symbolic link in their path" },
	{ "etag", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, SL(etag), pt_conf_set_flag, "on",
	  NULL, "send an ETag with files" },
	{ "sendfile", PT_CTX_HTTP_ANY | PT_CTX_IF, 0, 0, 1, 1, PT_LEVEL_LOC, SL(sendfile),
	  pt_conf_set_flag, "on", NULL, "send files with sendfile(2) on plain TCP connections" },
	{ "max_ranges", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, SL(max_ranges),
	  pt_conf_set_num, "64", &static_ranges_bounds,
	  "most byte ranges served in one response (0: Range ignored)" },
	PT_DIRECTIVE_END
};

static const char *
static_conf_merge(struct pt_conf_ctx *cf, enum pt_conf_level level, void *parent, void *child)
{
	struct static_loc *p = parent, *c = child;
	const char *err = NULL;

	if (level != PT_LEVEL_LOC)
		return NULL;
	if (c->root == NULL) {
		if (p != NULL) {
			c->root = p->root;
			c->alias = p->alias;
			c->alias_regex = p->alias_regex;
			c->loc_name = p->loc_name;
		} else if ((c->root = static_path_cv(cf, "html", &err)) == NULL)
			return err;
	}
	if (c->index == NULL) {
		if (p != NULL)
			c->index = p->index;
		else {
			struct pt_cv *cv = pt_cv_compile(cf, "index.html", &err);

			if (cv == NULL)
				return err;
			c->index = pt_palloc(cf->pool, sizeof(*c->index));
			pt_array_init(c->index, cf->pool, 1, sizeof(struct pt_cv *));
			*(struct pt_cv **)pt_array_push(c->index) = cv;
		}
	}
	if (c->types == NULL)
		c->types = p != NULL ? p->types : &static_default_types;
	/* try_files is not inherited by nested locations (nginx neither) */
	return NULL;
}

int	static_content(struct pt_request *r);
int	static_try_files_handler(struct pt_request *r);

static int
static_postconfig(struct pt_cycle *cycle)
{
	if (cycle->http == NULL)
		return PT_OK;
	((struct pt_http_main *)cycle->http)->default_content = static_content;
	return pt_phase_add(cycle, PT_PHASE_PRECONTENT, 100, static_try_files_handler);
}

int	static_var_document_root(struct pt_request *r, void *data, struct pt_str *out);
int	static_var_request_filename(struct pt_request *r, void *data, struct pt_str *out);

static const struct pt_var_def static_variables[] = {
	{ "document_root", PT_VAR_NOCACHE, static_var_document_root, NULL },
	{ "request_filename", PT_VAR_NOCACHE, static_var_request_filename, NULL },
	PT_VAR_DEF_END
};

struct pt_module pt_mod_static = {
	.name = "static",
	.directives = static_directives,
	.conf_size = { [PT_LEVEL_LOC] = sizeof(struct static_loc) },
	.conf_merge = static_conf_merge,
	.postconfig = static_postconfig,
	.variables = static_variables,
};
