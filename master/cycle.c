/*
 * cycle.c: build and free a configuration generation (master only).
 *
 * pt_cycle_create() reads the configuration tree (conf_read.c), creates
 * the CORE and HTTP level confs of every module, applies the tree in the
 * main context (conf_apply.c), merges the two levels with the defaults and
 * runs each module's postconfig. It does not bind sockets or map zones:
 * the master does that with the cycle returned.
 */
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "pool.h"
#include "conf_priv.h"
#include "cycle.h"
#include "module.h"

#ifndef PT_PREFIX
#define PT_PREFIX	"/usr/local/portico/"
#endif
#ifndef PT_SYSCONFDIR
#define PT_SYSCONFDIR	"/usr/local/etc/portico"
#endif

/* module whose postconfig is running, for pt_phase_add() messages */
static const struct pt_module *cycle_current_module;

/* "<dir>/" made absolute against the working directory, in <pool> */
static char *
cycle_abs_dir(struct pt_pool *pool, const char *dir)
{
	char cwd[PATH_MAX];
	size_t len = strlen(dir);
	const char *slash = len > 0 && dir[len - 1] == '/' ? "" : "/";

	if (dir[0] == '/')
		return pt_psprintf(pool, "%s%s", dir, slash);
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		pt_log(PT_LOG_EMERG, errno, "getcwd() failed");
		return NULL;
	}
	return pt_psprintf(pool, "%s%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/",
	    dir, slash);
}

/*
 * Resolve <path> against cycle->prefix into cycle->pool; an absolute path
 * is copied as is. Returns the new string.
 */
char *
pt_cycle_path(struct pt_cycle *cycle, const char *path)
{
	if (path[0] == '/')
		return pt_pstrdup(cycle->pool, path);
	return pt_psprintf(cycle->pool, "%s%s", cycle->prefix, path);
}

/*
 * Find the open file for <path> (resolved with pt_cycle_path) in
 * cycle->open_files, or add it with fd -1. Returns the entry (cycle pool).
 */
struct pt_open_file *
pt_open_file_get(struct pt_cycle *cycle, const char *path)
{
	struct pt_open_file **files, *f;
	char *full;
	size_t i;

	full = pt_cycle_path(cycle, path);
	files = cycle->open_files.elts;
	for (i = 0; i < cycle->open_files.nelts; i++)
		if (strcmp(files[i]->path, full) == 0)
			return files[i];
	f = pt_pcalloc(cycle->pool, sizeof(*f));
	f->path = full;
	f->fd = -1;
	*(struct pt_open_file **)pt_array_push(&cycle->open_files) = f;
	return f;
}

/* the phase name in lower case, for messages */
static const char *
cycle_phase_name(enum pt_phase phase, char *buf, size_t size)
{
	static const char *const names[] = {
#define PT_PHASE(n)	#n,
#include "tbl/phases.h"
#undef PT_PHASE
	};
	size_t i;

	for (i = 0; i + 1 < size && names[phase][i] != '\0'; i++)
		buf[i] = (char)(names[phase][i] >= 'A' && names[phase][i] <= 'Z'
		    ? names[phase][i] - 'A' + 'a' : names[phase][i]);
	buf[i] = '\0';
	return buf;
}

/*
 * Register <fn> for <phase> at <priority> in <cycle> (from a module's
 * postconfig), keeping cycle->phases[phase] sorted by priority. Two
 * handlers with the same priority in one phase are an error. Returns
 * PT_OK or PT_ERROR (logged).
 */
int
pt_phase_add(struct pt_cycle *cycle, enum pt_phase phase, int priority,
    pt_phase_fn fn)
{
	struct pt_phase_handler *h;
	struct pt_array *a;
	const char *owner;
	char name[32];
	size_t i, n;

	PT_CHECK_OBJ(cycle, PT_CYCLE_MAGIC);
	PT_ASSERT(phase < PT_PHASE_MAX && fn != NULL);
	owner = cycle_current_module != NULL ? cycle_current_module->name : "(unknown)";
	a = &cycle->phases[phase];
	h = a->elts;
	for (i = 0; i < a->nelts && h[i].priority <= priority; i++) {
		if (h[i].priority == priority) {
			pt_log(PT_LOG_EMERG, 0, "phase %s: modules %s and %s both use"
			    " priority %d", cycle_phase_name(phase, name, sizeof(name)),
			    h[i].owner, owner, priority);
			return PT_ERROR;
		}
	}
	pt_array_push(a);
	h = a->elts;
	n = a->nelts - 1;
	memmove(&h[i + 1], &h[i], (n - i) * sizeof(*h));
	h[i].priority = priority;
	h[i].handler = fn;
	h[i].owner = owner;
	return PT_OK;
}

/* the core module's process-level conf, or NULL */
static struct pt_core_conf *
cycle_core_conf(struct pt_cycle *cycle)
{
	struct pt_module *m;
	int i;

	for (i = 0; (m = pt_modules[i]) != NULL; i++)
		if (strcmp(m->name, "core") == 0
		    && m->conf_size[PT_LEVEL_CORE] == sizeof(struct pt_core_conf))
			return cycle->core_conf[m->index];
	return NULL;
}

/* read the main file and the -g directives into cycle->conf_root */
static int
cycle_read(struct pt_cycle *cycle, const char *extra)
{
	struct pt_conf_reader rd;
	struct pt_conf_node *root;
	char *dir, *slash;

	memset(&rd, 0, sizeof(rd));
	rd.pool = cycle->pool;
	dir = pt_pstrdup(cycle->pool, cycle->conf_file);
	slash = strrchr(dir, '/');
	slash[1] = '\0';
	rd.conf_dir = dir;

	root = pt_pcalloc(cycle->pool, sizeof(*root));
	root->name = "";
	root->args = pt_pcalloc(cycle->pool, sizeof(char *));
	root->file = cycle->conf_file;
	root->line = 0;
	root->block = 1;
	cycle->conf_root = root;

	if (pt_conf_read_file(&rd, cycle->conf_file, root, PT_CTX_MAIN) != PT_OK)
		return PT_ERROR;
	if (extra != NULL && extra[0] != '\0'
	    && pt_conf_read_string(&rd, extra, strlen(extra), "command line", root,
	    PT_CTX_MAIN) != PT_OK)
		return PT_ERROR;
	return PT_OK;
}

/* create, apply, merge and postconfig; PT_OK or PT_ERROR (logged) */
static int
cycle_configure(struct pt_cycle *cycle)
{
	struct pt_conf_ctx cf;
	struct pt_module *m;
	int i;

	memset(&cf, 0, sizeof(cf));
	cf.cycle = cycle;
	cf.pool = cycle->pool;
	cf.ctx = PT_CTX_MAIN;
	cycle->core_conf = pt_conf_create_level(&cf, PT_LEVEL_CORE);
	cycle->http_conf = pt_conf_create_level(&cf, PT_LEVEL_HTTP);
	cf.http_conf = cycle->http_conf;
	cycle->core = cycle_core_conf(cycle);

	if (pt_conf_apply_block(&cf, cycle->conf_root, PT_CTX_MAIN) != PT_OK)
		return PT_ERROR;
	cf.node = NULL;
	cf.ctx = PT_CTX_MAIN;
	if (pt_conf_merge_level(&cf, PT_LEVEL_CORE, NULL, cycle->core_conf) != PT_OK
	    || pt_conf_merge_level(&cf, PT_LEVEL_HTTP, NULL, cycle->http_conf) != PT_OK)
		return PT_ERROR;

	for (i = 0; (m = pt_modules[i]) != NULL; i++) {
		if (m->postconfig == NULL)
			continue;
		cycle_current_module = m;
		if (m->postconfig(cycle) != PT_OK) {
			cycle_current_module = NULL;
			return PT_ERROR;
		}
	}
	cycle_current_module = NULL;
	return PT_OK;
}

/*
 * Build a configuration generation from <conf_file> (NULL: the default
 * PT_SYSCONFDIR/portico.conf; relative: against the prefix), with
 * <prefix> (NULL: PT_PREFIX) and the nginx-dialect directives
 * <extra_directives> (-g, may be NULL) appended to the main context.
 * <old> is the running cycle on reload, or NULL. Master only. Returns the
 * new cycle, or NULL with the error logged (nothing is left allocated).
 */
struct pt_cycle *
pt_cycle_create(const char *conf_file, const char *prefix,
    const char *extra_directives, struct pt_cycle *old)
{
	struct pt_cycle *cycle;
	struct pt_pool *pool;
	int p;

	PT_ASSERT_MASTER();
	pool = pt_pool_create(16 * 1024);
	cycle = pt_pcalloc(pool, sizeof(*cycle));
	cycle->magic = PT_CYCLE_MAGIC;
	cycle->pool = pool;
	cycle->generation = old != NULL ? old->generation + 1 : 1;

	cycle->prefix = cycle_abs_dir(pool, prefix != NULL ? prefix : PT_PREFIX);
	if (cycle->prefix == NULL)
		goto failed;
	if (conf_file == NULL)
		conf_file = PT_SYSCONFDIR "/portico.conf";
	cycle->conf_file = pt_cycle_path(cycle, conf_file);

	pt_array_init(&cycle->listeners, pool, 4, sizeof(struct pt_listener));
	pt_array_init(&cycle->zones, pool, 4, sizeof(struct pt_zone *));
	pt_array_init(&cycle->open_files, pool, 4, sizeof(struct pt_open_file *));
	for (p = 0; p < PT_PHASE_MAX; p++)
		pt_array_init(&cycle->phases[p], pool, 4, sizeof(struct pt_phase_handler));

	pt_modules_init();
	if (pt_conf_check_tables() != PT_OK)
		goto failed;
	if (cycle_read(cycle, extra_directives) != PT_OK)
		goto failed;
	if (cycle_configure(cycle) != PT_OK)
		goto failed;
	return cycle;

failed:
	cycle->magic = 0;
	pt_pool_destroy(pool);
	return NULL;
}

/*
 * Free <cycle> (NULL allowed): runs its pool's cleanups and frees the
 * pool. Listener sockets and open files are closed by whoever opened them
 * (they register pool cleanups or close them before).
 */
void
pt_cycle_free(struct pt_cycle *cycle)
{
	if (cycle == NULL)
		return;
	PT_CHECK_OBJ(cycle, PT_CYCLE_MAGIC);
	cycle->magic = 0;
	pt_pool_destroy(cycle->pool);
}
