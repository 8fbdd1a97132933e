/*
 * t/unit/conf.c: tests of the configuration subsystem (master/conf*.c,
 * master/cycle.c), printed as TAP.
 *
 * The program defines its own small module table (pt_modules[]) so that
 * it needs none of the real modules: a "core" module with process-level
 * settings and an "http" module with http/server/location/upstream
 * blocks and typed slots of every generic kind. Error messages are read
 * back from the error log, which is pointed at a temporary file.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "pool.h"
#include "conf.h"
#include "cycle.h"
#include "module.h"
#include "../../master/conf_priv.h"

static int		 test_n;	/* assertions run */
static int		 test_failed;	/* of which failed */
static char		 test_dir[64];	/* temporary directory, ends with '/' */
static int		 test_log_fd;	/* error log file */

/* cycle.h: normally defined in worker/worker.c */
struct pt_heritage	 pt_heritage;

/* --- the fake modules --------------------------------------------------- */

struct t_loc {
	pt_msec_t	 keepalive_timeout;
	size_t		 client_max_body_size;
	int		 sendfile;
	char		*root;
	int		 mode;
	char		*proxy_pass;
	long		 nheaders;
};

struct t_srv {
	long		 nlisten;
	char		*server_name;
};

struct t_http {
	long		 nupstreams;
	long		 ntypes;
	char		*types_first;
};

struct t_rec {
	char		 name[64];	/* location args joined */
	void		**loc;		/* its loc confs */
	void		**parent;	/* enclosing loc confs */
	void		**srv;		/* server only */
};

static struct t_rec	 t_locs[64], t_srvs[16];
static int		 t_nlocs, t_nsrvs;
static void		**t_http_srv, **t_http_loc;
static int		 t_phase_conflict;	/* postconfig registers a clash */
static int		 t_postconfig_ran;

static struct pt_module	 t_core_module, t_http_module;

static const char *
t_set_block(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	(void)conf;
	return pt_conf_apply_block(cf, cf->node, d->block_ctx) == PT_OK ? NULL : "failed";
}

static const char *
t_set_error_log(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_core_conf *c = conf;
	int i;

	(void)d;
	c->error_log = pt_pstrdup(cf->pool, cf->node->args[0]);
	if (cf->node->nargs == 2) {
		for (i = 1; pt_log_level_names[i] != NULL; i++)
			if (strcmp(pt_log_level_names[i], cf->node->args[1]) == 0)
				break;
		if (pt_log_level_names[i] == NULL)
			return pt_psprintf(cf->pool, "invalid log level \"%s\"",
			    cf->node->args[1]);
		c->error_log_level = i;
	}
	return NULL;
}

static const char *
t_set_http(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	int i;

	(void)d;
	(void)conf;
	t_nsrvs = t_nlocs = 0;
	cf->srv_conf = t_http_srv = pt_conf_create_level(cf, PT_LEVEL_SRV);
	cf->loc_conf = t_http_loc = pt_conf_create_level(cf, PT_LEVEL_LOC);
	if (pt_conf_apply_block(cf, cf->node, PT_CTX_HTTP) != PT_OK)
		return "failed";
	if (pt_conf_merge_level(cf, PT_LEVEL_SRV, NULL, t_http_srv) != PT_OK
	    || pt_conf_merge_level(cf, PT_LEVEL_LOC, NULL, t_http_loc) != PT_OK)
		return "failed";
	for (i = 0; i < t_nsrvs; i++)
		if (pt_conf_merge_level(cf, PT_LEVEL_SRV, t_http_srv, t_srvs[i].srv) != PT_OK
		    || pt_conf_merge_level(cf, PT_LEVEL_LOC, t_http_loc, t_srvs[i].loc)
		    != PT_OK)
			return "failed";
	for (i = 0; i < t_nlocs; i++)
		if (pt_conf_merge_level(cf, PT_LEVEL_LOC, t_locs[i].parent, t_locs[i].loc)
		    != PT_OK)
			return "failed";
	cf->srv_conf = cf->loc_conf = NULL;
	return NULL;
}

static const char *
t_set_server(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	void **srv = cf->srv_conf, **loc = cf->loc_conf;
	int rc;

	(void)d;
	(void)conf;
	cf->srv_conf = pt_conf_create_level(cf, PT_LEVEL_SRV);
	cf->loc_conf = pt_conf_create_level(cf, PT_LEVEL_LOC);
	t_srvs[t_nsrvs].srv = cf->srv_conf;
	t_srvs[t_nsrvs].loc = cf->loc_conf;
	t_nsrvs++;
	rc = pt_conf_apply_block(cf, cf->node, PT_CTX_SERVER);
	cf->srv_conf = srv;
	cf->loc_conf = loc;
	return rc == PT_OK ? NULL : "failed";
}

static const char *
t_set_location(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	void **loc = cf->loc_conf;
	struct t_rec *r = &t_locs[t_nlocs++];
	int rc, i;

	(void)d;
	(void)conf;
	cf->loc_conf = pt_conf_create_level(cf, PT_LEVEL_LOC);
	r->loc = cf->loc_conf;
	r->parent = loc;
	r->name[0] = '\0';
	for (i = 0; i < cf->node->nargs; i++) {
		if (i > 0)
			strcat(r->name, " ");
		strncat(r->name, cf->node->args[i], 20);
	}
	rc = pt_conf_apply_block(cf, cf->node, PT_CTX_LOCATION);
	cf->loc_conf = loc;
	return rc == PT_OK ? NULL : "failed";
}

static const char *
t_set_upstream(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct t_http *h = cf->http_conf[t_http_module.index];

	(void)d;
	(void)conf;
	h->nupstreams++;
	return pt_conf_apply_block(cf, cf->node, PT_CTX_UPSTREAM) == PT_OK ? NULL : "failed";
}

static const char *
t_set_count(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	(void)cf;
	if (conf != NULL && d->offset != PT_NO_OFFSET)
		(*(long *)((char *)conf + d->offset))++;
	return NULL;
}

static const char *
t_set_nothing(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	(void)cf;
	(void)d;
	(void)conf;
	return NULL;
}

static const char *
t_set_types(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct t_http *h = conf;
	const struct pt_conf_node *n;

	(void)d;
	for (n = cf->node->children; n != NULL; n = n->next) {
		if (n->nargs < 1) {
			pt_conf_error(cf, "bad type \"%s\"", n->name);
			return "x";
		}
		if (h->types_first == NULL)
			h->types_first = pt_psprintf(cf->pool, "%s:%s", n->name, n->args[0]);
		h->ntypes++;
	}
	return NULL;
}

static const char *
t_set_return(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	(void)d;
	(void)conf;
	if (strcmp(cf->node->args[0], "999") == 0)
		return pt_psprintf(cf->pool, "invalid return code \"%s\"", cf->node->args[0]);
	return NULL;
}

static int
t_handler_a(struct pt_request *r)
{
	(void)r;
	return PT_DECLINED;
}

static int
t_handler_b(struct pt_request *r)
{
	(void)r;
	return PT_DECLINED;
}

static int
t_core_postconfig(struct pt_cycle *cycle)
{
	t_postconfig_ran++;
	if (pt_phase_add(cycle, PT_PHASE_ACCESS, 20, t_handler_a) != PT_OK)
		return PT_ERROR;
	return PT_OK;
}

static int
t_http_postconfig(struct pt_cycle *cycle)
{
	if (pt_phase_add(cycle, PT_PHASE_ACCESS, 10, t_handler_b) != PT_OK)
		return PT_ERROR;
	if (pt_phase_add(cycle, PT_PHASE_ACCESS, t_phase_conflict ? 20 : 30, t_handler_b)
	    != PT_OK)
		return PT_ERROR;
	return PT_OK;
}

static const struct pt_conf_bounds t_workers_bounds = { 0, 1024 };
static const char *const t_modes[] = { "fast", "safe", NULL };

#define CORE_OFF(f)	offsetof(struct pt_core_conf, f)
#define LOC_OFF(f)	offsetof(struct t_loc, f)
#define SRV_OFF(f)	offsetof(struct t_srv, f)
#define HTTP_OFF(f)	offsetof(struct t_http, f)

static const struct pt_directive t_core_directives[] = {
	{ "worker_processes", PT_CTX_MAIN, 0, 0, 1, 1, PT_LEVEL_CORE,
	  CORE_OFF(worker_processes), pt_conf_set_num, "1", &t_workers_bounds,
	  "number of worker processes" },
	{ "daemon", PT_CTX_MAIN, 0, 0, 1, 1, PT_LEVEL_CORE, CORE_OFF(daemon),
	  pt_conf_set_flag, "on", NULL, "run in the background" },
	{ "pid", PT_CTX_MAIN, 0, 0, 1, 1, PT_LEVEL_CORE, CORE_OFF(pid),
	  pt_conf_set_str, "logs/portico.pid", NULL, "pid file" },
	{ "worker_shutdown_timeout", PT_CTX_MAIN, 0, 0, 1, 1, PT_LEVEL_CORE,
	  CORE_OFF(worker_shutdown_timeout), pt_conf_set_msec, "0", NULL, "drain time" },
	{ "error_log", PT_CTX_MAIN, 0, 0, 1, 2, PT_LEVEL_CORE, PT_NO_OFFSET,
	  t_set_error_log, "logs/error.log error", NULL, "error log" },
	{ "events", PT_CTX_MAIN, PT_D_BLOCK, PT_CTX_EVENTS, 0, 0, PT_LEVEL_NONE,
	  PT_NO_OFFSET, t_set_block, NULL, NULL, "event settings" },
	{ "worker_connections", PT_CTX_EVENTS, 0, 0, 1, 1, PT_LEVEL_CORE,
	  CORE_OFF(worker_connections), pt_conf_set_num, "512", NULL, "connections" },
	PT_DIRECTIVE_END
};

static const struct pt_directive t_http_directives[] = {
	{ "http", PT_CTX_MAIN, PT_D_BLOCK, PT_CTX_HTTP, 0, 0, PT_LEVEL_NONE,
	  PT_NO_OFFSET, t_set_http, NULL, NULL, "http block" },
	{ "server", PT_CTX_HTTP, PT_D_BLOCK | PT_D_MULTI, PT_CTX_SERVER, 0, 0,
	  PT_LEVEL_NONE, PT_NO_OFFSET, t_set_server, NULL, NULL, "virtual server" },
	{ "location", PT_CTX_SERVER | PT_CTX_LOCATION, PT_D_BLOCK | PT_D_MULTI,
	  PT_CTX_LOCATION, 1, 2, PT_LEVEL_NONE, PT_NO_OFFSET, t_set_location, NULL, NULL,
	  "location" },
	{ "upstream", PT_CTX_HTTP, PT_D_BLOCK | PT_D_MULTI, PT_CTX_UPSTREAM, 1, 1,
	  PT_LEVEL_NONE, PT_NO_OFFSET, t_set_upstream, NULL, NULL, "upstream group" },
	{ "server", PT_CTX_UPSTREAM, PT_D_MULTI, 0, 1, PT_D_ARGS_ANY, PT_LEVEL_NONE,
	  PT_NO_OFFSET, t_set_nothing, NULL, NULL, "upstream server" },
	{ "ip_hash", PT_CTX_UPSTREAM, 0, 0, 0, 0, PT_LEVEL_NONE, PT_NO_OFFSET,
	  t_set_nothing, NULL, NULL, "hash balancing" },
	{ "keepalive", PT_CTX_UPSTREAM, 0, 0, 1, 1, PT_LEVEL_NONE, PT_NO_OFFSET,
	  t_set_nothing, NULL, NULL, "idle connections" },
	{ "types", PT_CTX_HTTP_ANY, PT_D_BLOCK | PT_D_RAW_BLOCK, 0, 0, 0, PT_LEVEL_HTTP,
	  PT_NO_OFFSET, t_set_types, NULL, NULL, "mime types" },
	{ "listen", PT_CTX_SERVER, PT_D_MULTI, 0, 1, PT_D_ARGS_ANY, PT_LEVEL_SRV,
	  SRV_OFF(nlisten), t_set_count, NULL, NULL, "listen address" },
	{ "server_name", PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV, SRV_OFF(server_name),
	  pt_conf_set_str, "", NULL, "server name" },
	{ "keepalive_timeout", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC,
	  LOC_OFF(keepalive_timeout), pt_conf_set_msec, "75s", NULL, "keep-alive" },
	{ "client_max_body_size", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC,
	  LOC_OFF(client_max_body_size), pt_conf_set_size, "1m", NULL, "body limit" },
	{ "sendfile", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, LOC_OFF(sendfile),
	  pt_conf_set_flag, "off", NULL, "use sendfile" },
	{ "root", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, LOC_OFF(root),
	  pt_conf_set_str, "html", NULL, "document root" },
	{ "test_mode", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, LOC_OFF(mode),
	  pt_conf_set_enum, "safe", t_modes, "a mode" },
	{ "proxy_pass", PT_CTX_LOCATION, 0, 0, 1, 1, PT_LEVEL_LOC, LOC_OFF(proxy_pass),
	  pt_conf_set_str, NULL, NULL, "upstream URL" },
	{ "proxy_set_header", PT_CTX_HTTP_ANY, PT_D_MULTI, 0, 2, 2, PT_LEVEL_LOC,
	  LOC_OFF(nheaders), t_set_count, NULL, NULL, "request header" },
	{ "return", PT_CTX_SERVER | PT_CTX_LOCATION, 0, 0, 1, 2, PT_LEVEL_NONE,
	  PT_NO_OFFSET, t_set_return, NULL, NULL, "return a status" },
	PT_DIRECTIVE_END
};

static struct pt_module t_core_module = {
	.name = "core",
	.directives = t_core_directives,
	.conf_size = { [PT_LEVEL_CORE] = sizeof(struct pt_core_conf) },
	.postconfig = t_core_postconfig,
};

static struct pt_module t_http_module = {
	.name = "http",
	.directives = t_http_directives,
	.conf_size = {
		[PT_LEVEL_HTTP] = sizeof(struct t_http),
		[PT_LEVEL_SRV] = sizeof(struct t_srv),
		[PT_LEVEL_LOC] = sizeof(struct t_loc),
	},
	.postconfig = t_http_postconfig,
};

struct pt_module *pt_modules[] = { &t_core_module, &t_http_module, NULL, NULL };
int pt_nmodules;

/* module.h: normally in modules/modules.c */
void
pt_modules_init(void)
{
	for (pt_nmodules = 0; pt_modules[pt_nmodules] != NULL; pt_nmodules++)
		pt_modules[pt_nmodules]->index = pt_nmodules;
}

/* --- helpers ------------------------------------------------------------ */

__attribute__((format(printf, 2, 3))) static int
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	test_n++;
	if (!cond)
		test_failed++;
	printf("%sok %d - ", cond ? "" : "not ", test_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return cond;
}

static int
is_str(const char *got, const char *want, const char *name)
{
	int r = ok(got != NULL && strcmp(got, want) == 0, "%s", name);

	if (!r)
		printf("#   got:  \"%s\"\n#   want: \"%s\"\n", got ? got : "(null)", want);
	return r;
}

/* write <text> to test_dir/<name>; returns the full path (static buffer) */
static const char *
put(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s%s", test_dir, name);
	f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	return path;
}

/* start collecting error log lines */
static void
log_reset(void)
{
	if (ftruncate(test_log_fd, 0) != 0)
		perror("ftruncate");
	lseek(test_log_fd, 0, SEEK_SET);
}

/* the first logged message (without the log prefix), or "" */
static const char *
log_first(void)
{
	static char buf[4096];
	char *p, *nl;
	ssize_t n;

	n = pread(test_log_fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	if ((nl = strchr(buf, '\n')) != NULL)
		*nl = '\0';
	if ((p = strstr(buf, "#0: ")) != NULL)
		return p + 4;
	return buf;
}

/* the message with test_dir removed from file names */
static const char *
log_msg(void)
{
	static char buf[4096];
	const char *m = log_first(), *p;
	size_t dl = strlen(test_dir), o = 0;

	while (*m != '\0' && o < sizeof(buf) - 1) {
		p = strstr(m, test_dir);
		if (p == m) {
			m += dl;
			continue;
		}
		buf[o++] = *m++;
	}
	buf[o] = '\0';
	return buf;
}

/* read <file> (in test_dir) into a new tree; NULL on error */
static struct pt_conf_node *
read_tree(struct pt_pool *pool, const char *file)
{
	struct pt_conf_reader rd;
	struct pt_conf_node *root;

	memset(&rd, 0, sizeof(rd));
	rd.pool = pool;
	rd.conf_dir = test_dir;
	root = pt_pcalloc(pool, sizeof(*root));
	root->name = "";
	root->block = 1;
	if (pt_conf_read_file(&rd, file, root, PT_CTX_MAIN) != PT_OK)
		return NULL;
	return root;
}

/* the native dump of <root> in a heap string (caller frees) */
static char *
dump(const struct pt_conf_node *root)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	pt_conf_dump(f, root);
	fclose(f);
	return buf;
}

/* same names, args, block flags and children (file:line ignored) */
static int
tree_eq(const struct pt_conf_node *a, const struct pt_conf_node *b)
{
	int i;

	for (; a != NULL && b != NULL; a = a->next, b = b->next) {
		if (strcmp(a->name, b->name) != 0 || a->nargs != b->nargs
		    || a->block != b->block)
			return 0;
		for (i = 0; i < a->nargs; i++)
			if (strcmp(a->args[i], b->args[i]) != 0)
				return 0;
		if (a->args[a->nargs] != NULL || !tree_eq(a->children, b->children))
			return 0;
	}
	return a == NULL && b == NULL;
}

/* apply a tree as pt_cycle_create does, without a cycle file */
static struct pt_cycle *
apply_file(struct pt_pool *pool, const char *file, int *rc)
{
	struct pt_cycle *cycle;
	struct pt_conf_ctx cf;

	t_nlocs = t_nsrvs = 0;
	cycle = pt_pcalloc(pool, sizeof(*cycle));
	cycle->magic = PT_CYCLE_MAGIC;
	cycle->pool = pool;
	cycle->prefix = test_dir;
	cycle->conf_root = read_tree(pool, file);
	*rc = PT_ERROR;
	if (cycle->conf_root == NULL)
		return cycle;
	memset(&cf, 0, sizeof(cf));
	cf.cycle = cycle;
	cf.pool = pool;
	cycle->core_conf = pt_conf_create_level(&cf, PT_LEVEL_CORE);
	cycle->http_conf = cf.http_conf = pt_conf_create_level(&cf, PT_LEVEL_HTTP);
	cycle->core = cycle->core_conf[t_core_module.index];
	if (pt_conf_apply_block(&cf, cycle->conf_root, PT_CTX_MAIN) != PT_OK)
		return cycle;
	cf.node = NULL;
	if (pt_conf_merge_level(&cf, PT_LEVEL_CORE, NULL, cycle->core_conf) != PT_OK
	    || pt_conf_merge_level(&cf, PT_LEVEL_HTTP, NULL, cycle->http_conf) != PT_OK)
		return cycle;
	*rc = PT_OK;
	return cycle;
}

/* expect config <text> (file <name>) to fail with message <want> */
static void
expect_error(const char *name, const char *text, const char *want)
{
	struct pt_pool *pool = pt_pool_create(4096);
	int rc;

	put(name, text);
	log_reset();
	apply_file(pool, name, &rc);
	if (ok(rc == PT_ERROR, "%s: rejected", name))
		is_str(log_msg(), want, pt_psprintf(pool, "%s: message", name));
	else
		printf("#   wanted: %s\n", want);
	pt_pool_destroy(pool);
}

/* --- tests -------------------------------------------------------------- */

static void
test_dialect(void)
{
	static const struct {
		const char	*text;
		int		 want;
		const char	*name;
	} v[] = {
		{ "worker_processes 2;\n", PT_DIALECT_NGINX, "semicolon: nginx" },
		{ "worker_processes = 2\n", PT_DIALECT_NATIVE, "no semicolon: native" },
		{ "# portico: nginx\nworker_processes = 2\n", PT_DIALECT_NGINX,
		  "first line names nginx" },
		{ "#portico:native\nerror_log = 'a;b'\n", PT_DIALECT_NATIVE,
		  "first line names native" },
		{ "# portico: native\nworker_processes 2;\n", PT_DIALECT_NATIVE,
		  "first line wins over a semicolon" },
		{ "a = \"x;y\"\nb = 'p;q'\n", PT_DIALECT_NATIVE, "semicolon in quotes" },
		{ "# a; b\n// c;\n/* d; */ a = 1\n", PT_DIALECT_NATIVE,
		  "semicolon in comments" },
		{ "location / { proxy_pass http://x; }\n", PT_DIALECT_NGINX,
		  "// inside a word is no comment" },
		{ "add_header X don't;\n", PT_DIALECT_NGINX,
		  "quote inside a word opens no string" },
		{ "", PT_DIALECT_NATIVE, "empty file: native" },
	};
	size_t i;

	for (i = 0; i < PT_NELEM(v); i++)
		ok(pt_conf_dialect(v[i].text, strlen(v[i].text)) == (enum pt_conf_dialect)v[i].want,
		    "dialect: %s", v[i].name);
}

static const char t_nginx_conf[] =
    "# a full configuration in the nginx dialect\n"
    "worker_processes 2;\n"
    "error_log logs/error.log warn;\n"
    "events { worker_connections 1024; }\n"
    "http {\n"
    "    keepalive_timeout 10s;\n"
    "    types { text/html html htm; image/png png; }\n"
    "    upstream backend { server 127.0.0.1:8081 weight=2; keepalive 16; ip_hash; }\n"
    "    server {\n"
    "        listen 127.0.0.1:8080;\n"
    "        listen [::1]:8080 default_server;\n"
    "        root /srv/a;\n"
    "        location / {\n"
    "            proxy_pass http://backend;\n"
    "            proxy_set_header Host $host;\n"
    "            proxy_set_header X-Empty \"\";\n"
    "            sendfile on;\n"
    "            location /inner { client_max_body_size 2k; }\n"
    "        }\n"
    "        location = /health { return 200 \"ok\\n\"; }\n"
    "        location ~ \"^/a b\\.php$\" { return 301 '${scheme}://x$uri'; }\n"
    "    }\n"
    "    server { listen 8081; test_mode fast; }\n"
    "}\n";

static const char t_native_conf[] =
    "# the same configuration in the native dialect\n"
    "worker_processes = 2\n"
    "error_log = {\"logs/error.log\", \"warn\"}\n"
    "events { worker_connections = 1024 }\n"
    "http {\n"
    "    keepalive_timeout = 10s\n"
    "    types { entry = {\"text/html\", html, htm}  entry = {image/png, png} }\n"
    "    upstream \"backend\" { server = {\"127.0.0.1:8081\", \"weight=2\"}  keepalive = 16\n"
    "        ip_hash = true }\n"
    "    server {\n"
    "        listen = \"127.0.0.1:8080\"\n"
    "        listen = {\"[::1]:8080\", \"default_server\"}\n"
    "        root = /srv/a\n"
    "        location \"/\" {\n"
    "            proxy_pass = \"http://backend\"\n"
    "            proxy_set_header = {\"Host\", \"$host\"}\n"
    "            proxy_set_header = {X-Empty, ''}\n"
    "            sendfile = on\n"
    "            location '/inner' { client_max_body_size = 2k }\n"
    "        }\n"
    "        location \"= /health\" { return = {200, \"ok\\n\"} }\n"
    "        location '~ \"^/a b\\\\\\\\.php$\"' { return = {301, '${scheme}://x$uri'} }\n"
    "    }\n"
    "    server { listen = 8081  test_mode = fast }\n"
    "}\n";

static void
test_dialects_same_tree(void)
{
	struct pt_pool *pool = pt_pool_create(4096);
	struct pt_conf_node *a, *b;
	char *da, *db;

	put("same.nginx", t_nginx_conf);
	put("same.native", t_native_conf);
	log_reset();
	a = read_tree(pool, "same.nginx");
	ok(a != NULL, "nginx dialect file reads");
	b = read_tree(pool, "same.native");
	if (!ok(b != NULL, "native dialect file reads"))
		printf("#   %s\n", log_msg());
	if (a == NULL || b == NULL) {
		pt_pool_destroy(pool);
		return;
	}
	ok(tree_eq(a->children, b->children), "both dialects give the same tree");
	da = dump(a);
	db = dump(b);
	is_str(db, da, "and the same dump");
	free(da);
	free(db);

	/* spot checks on the nginx tree: lines, quoting, raw children */
	a = a->children;
	ok(strcmp(a->name, "worker_processes") == 0 && a->line == 2
	    && strcmp(a->file, pt_psprintf(pool, "%ssame.nginx", test_dir)) == 0,
	    "file:line of the first directive");
	if (!ok(b->children->line == 2, "native line of the first directive"))
		printf("#   line %d\n", b->children->line);
	pt_pool_destroy(pool);
}

static void
test_values(void)
{
	struct pt_pool *pool = pt_pool_create(4096);
	struct t_loc *l;
	struct t_srv *s;
	struct t_http *h;
	struct pt_cycle *c;
	int rc, hi = t_http_module.index, i;

	put("values.conf", t_nginx_conf);
	log_reset();
	c = apply_file(pool, "values.conf", &rc);
	if (!ok(rc == PT_OK, "full configuration applies")) {
		printf("#   %s\n", log_msg());
		pt_pool_destroy(pool);
		return;
	}
	ok(c->core->worker_processes == 2, "num setter");
	ok(c->core->daemon == 1, "flag default applied at the top");
	is_str(c->core->pid, "logs/portico.pid", "str default");
	ok(c->core->worker_connections == 1024, "num in events block");
	ok(c->core->worker_shutdown_timeout == 0, "msec default 0");
	is_str(c->core->error_log, "logs/error.log", "custom setter");
	ok(c->core->error_log_level == PT_LOG_WARN, "custom setter second arg");
	h = c->http_conf[hi];
	ok(h->nupstreams == 1, "upstream block applied");
	ok(h->ntypes == 2, "raw block children handed to the setter");
	is_str(h->types_first, "text/html:html", "raw block entry");

	ok(t_nsrvs == 2 && t_nlocs == 4, "two servers, four locations");
	s = t_srvs[0].srv[hi];
	ok(s->nlisten == 2, "repeated listen");
	is_str(s->server_name, "", "empty default string");
	/* location / */
	l = t_locs[0].loc[hi];
	is_str(t_locs[0].name, "/", "first location");
	ok(l->keepalive_timeout == 10000, "location inherits http (msec)");
	is_str(l->root, "/srv/a", "location inherits server (str)");
	ok(l->sendfile == 1, "location sets flag");
	ok(l->client_max_body_size == 1024 * 1024, "size default applied");
	ok(l->nheaders == 2, "multi directive counted");
	ok(l->mode == 1, "enum default is index of \"safe\"");
	is_str(l->proxy_pass, "http://backend", "proxy_pass");
	/* nested /inner */
	l = t_locs[1].loc[hi];
	is_str(t_locs[1].name, "/inner", "nested location");
	ok(l->client_max_body_size == 2048, "nested location sets size");
	ok(l->sendfile == 1, "nested location inherits parent location");
	ok(l->keepalive_timeout == 10000 && strcmp(l->root, "/srv/a") == 0,
	    "nested location inherits server and http");
	ok(l->proxy_pass != NULL && strcmp(l->proxy_pass, "http://backend") == 0,
	    "nested location inherits proxy_pass");
	is_str(t_locs[3].name, "~ ^/a b\\.php$", "regex location args unquoted");
	/* second server: defaults */
	l = t_srvs[1].loc[hi];
	ok(l->mode == 0, "server sets enum \"fast\"");
	is_str(l->root, "html", "server gets the default root");
	ok(l->keepalive_timeout == 10000, "server inherits http");
	l = t_http_loc[hi];
	ok(l->sendfile == 0 && l->keepalive_timeout == 10000 && l->proxy_pass == NULL,
	    "http level: default, own value, no default");
	for (i = 0; i < t_nlocs; i++)
		if (((struct t_loc *)t_locs[i].loc[hi])->client_max_body_size == PT_UNSET_SIZE)
			break;
	ok(i == t_nlocs, "no slot left unset");
	pt_pool_destroy(pool);
}

static void
test_errors(void)
{
	char want[256];

	/* nginx dialect */
	expect_error("e1.conf", "http {\n server {\n  location / {\n   proxy_pas http://x;\n"
	    "  }\n }\n}\n",
	    "e1.conf:4: unknown directive \"proxy_pas\" (did you mean \"proxy_pass\"?)");
	expect_error("e2.conf", "worker_process 2;\n",
	    "e2.conf:1: unknown directive \"worker_process\" (did you mean \"worker_processes\"?)");
	expect_error("e3.conf", "\nfrobnicate on;\n", "e3.conf:2: unknown directive \"frobnicate\"");
	expect_error("e4.conf", "http {\n server {\n  proxy_pass http://x;\n }\n}\n",
	    "e4.conf:3: \"proxy_pass\" directive is not allowed here");
	expect_error("e5.conf", "http {\n keepalive_timeout 1s 2s;\n}\n",
	    "e5.conf:2: invalid number of arguments in \"keepalive_timeout\" directive");
	expect_error("e6.conf", "http {\n root /a;\n\n root /b;\n}\n",
	    "e6.conf:4: \"root\" directive is duplicate");
	expect_error("e7.conf", "# portico: nginx\nhttp {\n server {\n", "e7.conf:4: unexpected end of file, "
	    "expecting \"}\" (block \"server\" opened at line 3)");
	expect_error("e8.conf", "http {\n}\n}\nx;\n", "e8.conf:3: unexpected \"}\"");
	expect_error("e9.conf", "# portico: nginx\nhttp {\n root \"/a;\n}\n",
	    "e9.conf:3: unterminated quoted string");
	expect_error("e10.conf", "http {\n client_max_body_size 10x;\n}\n",
	    "e10.conf:2: invalid value \"10x\" in \"client_max_body_size\" directive, "
	    "it must be a size like 512, 8k, 1m or 1g");
	expect_error("e11.conf", "http {\n keepalive_timeout 5q;\n}\n",
	    "e11.conf:2: invalid value \"5q\" in \"keepalive_timeout\" directive, "
	    "it must be a time like 500ms, 30s, 5m, 1h or 2d");
	expect_error("e12.conf", "http {\n sendfile yes;\n}\n",
	    "e12.conf:2: invalid value \"yes\" in \"sendfile\" directive, "
	    "it must be \"on\" or \"off\"");
	expect_error("e13.conf", "worker_processes 5000;\n",
	    "e13.conf:1: invalid value \"5000\" in \"worker_processes\" directive, "
	    "it must be between 0 and 1024");
	expect_error("e14.conf", "http {\n test_mode slow;\n}\n",
	    "e14.conf:2: invalid value \"slow\" in \"test_mode\" directive, "
	    "it must be one of: \"fast\", \"safe\"");
	expect_error("e15.conf", "http;\n", "e15.conf:1: \"http\" directive has no opening \"{\"");
	expect_error("e16.conf", "worker_processes 2 {\n}\ndaemon on;\n",
	    "e16.conf:1: \"worker_processes\" directive takes no block");
	expect_error("e17.conf", "http {\n server {\n  return 999;\n }\n}\n",
	    "e17.conf:3: invalid return code \"999\" in \"return\" directive");
	expect_error("e18.conf", "error_log x bogus;\n",
	    "e18.conf:1: invalid log level \"bogus\" in \"error_log\" directive");
	expect_error("e19.conf", "# portico: nginx\nworker_processes 2\n", "e19.conf:3: unexpected end of file, "
	    "expecting \";\" or \"}\"");
	expect_error("e20.conf", "http {\n ;\n}\n", "e20.conf:2: unexpected \";\"");
	expect_error("e21.conf", "http {\n root \"a\"b;\n}\n",
	    "e21.conf:2: unexpected \"b\" after quoted string");
	expect_error("e22.conf", "http {\n types {\n  text/html;\n }\n}\n",
	    "e22.conf:2: bad type \"text/html\"");
	snprintf(want, sizeof(want), "e23.conf:1: open() \"missing.conf\" failed (%d: %s)",
	    ENOENT, strerror(ENOENT));
	expect_error("e23.conf", "include missing.conf;\n", want);
	expect_error("e24.conf", "events { }\nevents { }\n",
	    "e24.conf:2: \"events\" directive is duplicate");
	expect_error("e25.conf", "http { upstream a b { } }\ndaemon on;\n",
	    "e25.conf:1: invalid number of arguments in \"upstream\" directive");

	/* native dialect */
	expect_error("n1.conf", "http {\n server {\n  location \"/\" {\n   proxy_pas = \"x\"\n"
	    "  }\n }\n}\n",
	    "n1.conf:4: unknown directive \"proxy_pas\" (did you mean \"proxy_pass\"?)");
	expect_error("n2.conf", "http {\n server {\n  proxy_pass = x\n }\n}\n",
	    "n2.conf:3: \"proxy_pass\" directive is not allowed here");
	expect_error("n3.conf", "http {\n keepalive_timeout = {1s, 2s}\n}\n",
	    "n3.conf:2: invalid number of arguments in \"keepalive_timeout\" directive");
	expect_error("n4.conf", "http {\n root = /a\n root = /b\n}\n",
	    "n4.conf:3: \"root\" directive is duplicate");
	expect_error("n5.conf", "http {\n sendfile = yes\n}\n",
	    "n5.conf:2: invalid value \"yes\" in \"sendfile\" directive, "
	    "it must be \"on\" or \"off\"");
	expect_error("n6.conf", "http {\n client_max_body_size = 1q\n}\n",
	    "n6.conf:2: invalid value \"1q\" in \"client_max_body_size\" directive, "
	    "it must be a size like 512, 8k, 1m or 1g");
	expect_error("n8.conf", "http {\n server {\n", "n8.conf:3: unexpected end of file, expecting \"}\"");
	expect_error("n9.conf", "http {\n upstream \"u\" {\n  ip_hash = {}\n  ip_hash = 1\n }\n}\n",
	    "n9.conf:4: invalid number of arguments in \"ip_hash\" directive");
	expect_error("n10.conf", "http {\n server {\n  location '~ \"a' { }\n }\n}\n",
	    "n10.conf:3: bad title \"~ \"a\" of \"location\" block: unterminated quoted string");
	expect_error("n11.conf", "http {\n types = {a, b}\n}\n",
	    "n11.conf:2: missing opening brace for section 'types'");
}

static void
test_native_sections(void)
{
	struct pt_pool *pool = pt_pool_create(4096);
	struct pt_conf_node *a, *s, *l;

	put("sec.conf", "http {\n server {\n  location \"/\" { root = a }\n"
	    "  location \"/\" {\n   root = b\n  }\n  location '' { }\n }\n}\n");
	log_reset();
	a = read_tree(pool, "sec.conf");
	if (!ok(a != NULL, "native: same titles read")) {
		printf("#   %s\n", log_msg());
		pt_pool_destroy(pool);
		return;
	}
	s = a->children->children;
	l = s->children;
	ok(l != NULL && l->next != NULL && l->next->next != NULL
	    && l->next->next->next == NULL, "native: two blocks with one title stay two");
	if (!ok(l != NULL && l->line == 3 && strcmp(l->children->args[0], "a") == 0
	    && l->next->line == 4 && l->next->children->line == 5
	    && strcmp(l->next->children->args[0], "b") == 0, "native: block lines and order")
	    && l != NULL)
		printf("#   lines %d %d %d\n", l->line, l->next->line, l->next->children->line);
	ok(l != NULL && l->next->next->nargs == 0, "native: empty title, no arguments");
	pt_pool_destroy(pool);
}

static void
test_include(void)
{
	struct pt_pool *pool = pt_pool_create(4096);
	struct pt_conf_node *a, *b, *ref;
	char *da, *dref;

	if (mkdir(pt_psprintf(pool, "%sinc", test_dir), 0700) != 0)
		perror("mkdir");
	/* one nginx file and one native file, found by a glob from either dialect */
	put("inc/10-a.conf", "keepalive_timeout 5s;\nroot /from/nginx;\n");
	put("inc/20-b.conf", "server { listen = 80  location \"/n\" { return = 204 } }\n");
	put("inc/30-c.conf", "# portico: nginx\nserver { listen 81; include inc/deep/*.x; }\n");
	if (mkdir(pt_psprintf(pool, "%sinc/deep", test_dir), 0700) != 0)
		perror("mkdir");
	put("inc/deep/a.x", "location = /deep { return 200; }\n");
	put("inc/deep/b.x", "location \"/deep2\" { include(\"inc/deep/none*.y\") }\n");

	put("inc-main.nginx", "http {\n    include inc/*.conf;\n    sendfile on;\n"
	    "    include nothing/*.conf;\n}\n");
	put("inc-main.native", "http {\n    include(\"inc/*.conf\")\n    sendfile = on\n"
	    "    include('nothing/*.conf')\n}\n");
	put("inc-ref.nginx", "http {\n keepalive_timeout 5s;\n root /from/nginx;\n"
	    " server { listen 80; location /n { return 204; } }\n"
	    " server { listen 81; location = /deep { return 200; } location /deep2 { } }\n"
	    " sendfile on;\n}\n");
	log_reset();
	a = read_tree(pool, "inc-main.nginx");
	if (!ok(a != NULL, "nginx file includes nginx and native files"))
		printf("#   %s\n", log_msg());
	b = read_tree(pool, "inc-main.native");
	if (!ok(b != NULL, "native file includes nginx and native files"))
		printf("#   %s\n", log_msg());
	ref = read_tree(pool, "inc-ref.nginx");
	if (a != NULL && b != NULL && ref != NULL) {
		da = dump(a);
		dref = dump(ref);
		is_str(da, dref, "nginx include: directives in place, glob sorted");
		free(da);
		da = dump(b);
		is_str(da, dref, "native include: directives in place, glob sorted");
		free(da);
		free(dref);
		ok(a->children->children->line == 1
		    && strstr(a->children->children->file, "inc/10-a.conf") != NULL,
		    "included node keeps its own file:line");
		ok(b->children->children->next->next->line == 1
		    && strstr(b->children->children->next->next->file, "inc/20-b.conf") != NULL,
		    "native include keeps file:line");
	}
	/* errors inside included files name the included file */
	put("inc-bad.conf", "http {\n include inc-bad-1.conf;\n}\n");
	put("inc-bad-1.conf", "server {\n  listen = 80\n  bogus_thing = 1\n}\n");
	expect_error("inc-bad.conf", "http {\n include inc-bad-1.conf;\n}\n",
	    "inc-bad-1.conf:3: unknown directive \"bogus_thing\"");
	put("inc-loop.conf", "include inc-loop.conf;\n");
	expect_error("inc-loop.conf", "include inc-loop.conf;\n",
	    "inc-loop.conf:1: includes nested too deeply (more than 32)");
	pt_pool_destroy(pool);
}

static void
test_roundtrip(void)
{
	static const char *const inputs[] = {
		t_nginx_conf,
		"worker_processes 1;\nhttp { server { location / { return 200 \"it's\"; } } }\n",
		"http {\n server {\n  location ~* \"\\.(png|jpg)$\" { root \"/a b/c\"; }\n"
		"  location \"/q\\\"uote\" { return 200 \"say \\\"hi\\\"\\tand\\\\go\"; }\n"
		"  location /e { proxy_set_header X \"\"; proxy_set_header Y ''; }\n"
		"  location /d { return 302 \"${scheme}://$host$request_uri\"; }\n"
		"  location '/s p' { location /s/in { location /s/in/er { root x; } } }\n"
		" }\n"
		" types { \"text/plain\" txt \"a b\"; application/x-y; }\n"
		"}\n",
		"http { upstream u { ip_hash; server a:1 weight=5 max_fails=2; } }\n"
		"events { }\n",
		"error_log \"single ' quote\" 'double \" quote';\n",
		"http { server { location '' { } location \"a{b}\" { } location \"#hash\" { } } }\n"
		"daemon on;\n",
	};
	struct pt_pool *pool;
	struct pt_conf_node *a, *b;
	char *d1, *d2, name[32];
	size_t i;

	for (i = 0; i < PT_NELEM(inputs); i++) {
		pool = pt_pool_create(4096);
		snprintf(name, sizeof(name), "rt%zu.nginx", i);
		put(name, inputs[i]);
		log_reset();
		a = read_tree(pool, name);
		if (!ok(a != NULL, "round trip %zu: nginx input reads", i)) {
			printf("#   %s\n", log_msg());
			pt_pool_destroy(pool);
			continue;
		}
		d1 = dump(a);
		snprintf(name, sizeof(name), "rt%zu.native", i);
		put(name, d1);
		b = read_tree(pool, name);
		if (ok(b != NULL, "round trip %zu: dump reads as native", i)) {
			ok(tree_eq(a->children, b->children), "round trip %zu: same tree", i);
			d2 = dump(b);
			is_str(d2, d1, pt_psprintf(pool, "round trip %zu: same dump", i));
			free(d2);
		} else {
			printf("#   %s\n#   dump:\n%s", log_msg(), d1);
		}
		free(d1);
		pt_pool_destroy(pool);
	}
}

static void
test_dump_format(void)
{
	struct pt_pool *pool = pt_pool_create(4096);
	struct pt_conf_node *a;
	char *d;

	put("fmt.nginx", "worker_processes 2;\nerror_log a b;\nhttp {\n"
	    " upstream u { ip_hash; }\n server { location = /x { return 200 \"it's\\n\"; } }\n"
	    " types { text/html html; }\n}\n");
	a = read_tree(pool, "fmt.nginx");
	if (a != NULL) {
		d = dump(a);
		is_str(d, "# portico: native\n"
		    "worker_processes = '2'\n"
		    "error_log = {'a', 'b'}\n"
		    "http {\n"
		    "    upstream 'u' {\n"
		    "        ip_hash = true\n"
		    "    }\n"
		    "    server {\n"
		    "        location '= /x' {\n"
		    "            return = {'200', \"it's\\n\"}\n"
		    "        }\n"
		    "    }\n"
		    "    types {\n"
		    "        entry = {'text/html', 'html'}\n"
		    "    }\n"
		    "}\n", "dump format");
		free(d);
	}
	pt_pool_destroy(pool);
}

static void
test_native_depth(void)
{
	char buf[2048];
	struct pt_pool *pool = pt_pool_create(4096);
	int i, n;

	/* 7 nested locations are fine, 8 are not */
	for (n = 7; n <= 8; n++) {
		strcpy(buf, "http { server {\n");
		for (i = 0; i < n; i++)
			sprintf(buf + strlen(buf), "location '/%d' {\n", i);
		for (i = 0; i < n; i++)
			strcat(buf, "}\n");
		strcat(buf, "} }\n");
		put("depth.conf", buf);
		log_reset();
		ok((read_tree(pool, "depth.conf") != NULL) == (n == 7),
		    "native: %d nested locations %s", n, n == 7 ? "read" : "rejected");
	}
	is_str(log_msg(), "depth.conf:9: \"location\" directive is not allowed here",
	    "native: depth limit message");
	pt_pool_destroy(pool);
}

static void
test_tables(void)
{
	static const struct pt_directive clash[] = {
		{ "root", PT_CTX_LOCATION, 0, 0, 1, 1, PT_LEVEL_NONE, PT_NO_OFFSET,
		  t_set_nothing, NULL, NULL, "clash" },
		{ "include", PT_CTX_MAIN, 0, 0, 1, 1, PT_LEVEL_NONE, PT_NO_OFFSET,
		  t_set_nothing, NULL, NULL, "reserved" },
		PT_DIRECTIVE_END
	};
	static struct pt_module clash_module = { .name = "clash", .directives = clash };
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	log_reset();
	ok(pt_conf_check_tables() == PT_OK, "tables: the test tables are fine");
	pt_modules[2] = &clash_module;
	pt_modules_init();
	log_reset();
	ok(pt_conf_check_tables() == PT_ERROR, "tables: clash detected");
	is_str(log_msg(), "directive \"root\" is declared twice for the same context"
	    " (modules http and clash)", "tables: clash message");
	pt_modules[2] = NULL;
	pt_modules_init();

	f = open_memstream(&buf, &size);
	pt_conf_dump_directives(f);
	fclose(f);
	ok(strstr(buf, "keepalive_timeout\thttp,server,location\t75s\tkeep-alive\n") != NULL,
	    "directive list line");
	ok(strstr(buf, "proxy_pass\tlocation\t-\tupstream URL\n") != NULL,
	    "directive list without default");
	free(buf);

	ok(strcmp(pt_conf_suggest("sendfle"), "sendfile") == 0, "suggest: one deletion");
	ok(strcmp(pt_conf_suggest("client_max_body"), "client_max_body_size") == 0,
	    "suggest: prefix");
	ok(pt_conf_suggest("zzz") == NULL, "suggest: nothing close");
}

static void
test_cycle(void)
{
	struct pt_cycle *c;
	struct pt_phase_handler *h;
	struct pt_open_file *f1, *f2;
	char path[256];

	put("cycle.conf", "worker_processes 3;\nhttp { server { listen 80; } }\n");
	log_reset();
	c = pt_cycle_create("cycle.conf", test_dir, "daemon off; worker_processes 4;", NULL);
	ok(c == NULL, "cycle: -g duplicate rejected");
	is_str(log_msg(), "command line:1: \"worker_processes\" directive is duplicate",
	    "cycle: -g errors are named \"command line\"");

	log_reset();
	t_postconfig_ran = 0;
	c = pt_cycle_create("cycle.conf", test_dir, "daemon off;", NULL);
	if (!ok(c != NULL, "cycle: created")) {
		printf("#   %s\n", log_msg());
		return;
	}
	ok(c->generation == 1 && c->magic == PT_CYCLE_MAGIC, "cycle: generation 1");
	is_str(c->conf_file, pt_psprintf(c->pool, "%scycle.conf", test_dir),
	    "cycle: conf file resolved against prefix");
	ok(c->core != NULL && c->core->worker_processes == 3 && c->core->daemon == 0,
	    "cycle: core conf from file and -g");
	ok(c->core->worker_connections == 512, "cycle: core defaults merged");
	ok(t_postconfig_ran == 1, "cycle: postconfig ran");
	h = c->phases[PT_PHASE_ACCESS].elts;
	ok(c->phases[PT_PHASE_ACCESS].nelts == 3 && h[0].priority == 10
	    && h[1].priority == 20 && h[2].priority == 30
	    && strcmp(h[1].owner, "core") == 0 && strcmp(h[0].owner, "http") == 0,
	    "cycle: phase handlers sorted by priority");
	f1 = pt_open_file_get(c, "logs/access.log");
	f2 = pt_open_file_get(c, pt_psprintf(c->pool, "%slogs/access.log", test_dir));
	ok(f1 == f2 && f1->fd == -1 && c->open_files.nelts == 1,
	    "cycle: open files deduplicated by absolute path");
	is_str(pt_cycle_path(c, "/abs"), "/abs", "cycle: absolute path kept");

	t_phase_conflict = 1;
	log_reset();
	ok(pt_cycle_create("cycle.conf", test_dir, NULL, c) == NULL,
	    "cycle: equal phase priorities rejected");
	is_str(log_msg(), "phase access: modules core and http both use priority 20",
	    "cycle: phase conflict message");
	t_phase_conflict = 0;
	pt_cycle_free(c);

	snprintf(path, sizeof(path), "%scycle.conf", test_dir);
	c = pt_cycle_create(path, "/nonexistent/prefix", NULL, NULL);
	ok(c != NULL && strcmp(c->prefix, "/nonexistent/prefix/") == 0,
	    "cycle: prefix gets a trailing slash, absolute conf file kept");
	pt_cycle_free(c);
}

int
main(void)
{
	char tmpl[] = "/tmp/pt-conf-XXXXXX";
	FILE *lf;

	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(test_dir, sizeof(test_dir), "%s/", tmpl);
	lf = tmpfile();
	test_log_fd = fileno(lf);
	pt_errlog.fd = test_log_fd;
	pt_errlog.also_stderr = 0;
	pt_errlog.level = PT_LOG_NOTICE;
	pt_modules_init();

	test_dialect();
	test_dialects_same_tree();
	test_values();
	test_errors();
	test_native_sections();
	test_include();
	test_roundtrip();
	test_dump_format();
	test_native_depth();
	test_tables();
	test_cycle();

	printf("1..%d\n", test_n);
	fclose(lf);
	if (getenv("PORTICO_TEST_LEAVE") == NULL) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", tmpl);
	}
	return test_failed != 0;
}
