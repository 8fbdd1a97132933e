/*
 * core_module.c: process-level directives of the main and events
 * contexts (daemon, workers, pid file, user, error log), stored in
 * struct pt_core_conf (cycle.h). Read by the master only; the runtime
 * reads the resulting cycle->core.
 */
#include <grp.h>
#include <pwd.h>
#include <unistd.h>
#include "portico.h"

static const char	*core_set_workers(struct pt_conf_ctx *,
			    const struct pt_directive *, void *);
static const char	*core_set_user(struct pt_conf_ctx *,
			    const struct pt_directive *, void *);
static const char	*core_set_error_log(struct pt_conf_ctx *,
			    const struct pt_directive *, void *);
static const char	*core_set_events(struct pt_conf_ctx *,
			    const struct pt_directive *, void *);
static const char	*core_set_use(struct pt_conf_ctx *,
			    const struct pt_directive *, void *);
static const char	*core_set_multi_accept(struct pt_conf_ctx *,
			    const struct pt_directive *, void *);
static void		 core_conf_create(struct pt_conf_ctx *,
			    enum pt_conf_level, void *);
static const char	*core_conf_merge(struct pt_conf_ctx *,
			    enum pt_conf_level, void *, void *);
static int		 core_postconfig(struct pt_cycle *);

#define CORE_MAX_WORKERS	512

static const struct pt_conf_bounds core_connections_bounds = { 1, 1048576 };
static const struct pt_conf_bounds core_nofile_bounds = { 1, 16777216 };

#define CORE_OFF(f)	offsetof(struct pt_core_conf, f)

static const struct pt_directive core_directives[] = {
	{ "daemon", PT_CTX_MAIN, 0, 0, 1, 1, PT_LEVEL_CORE,
	  CORE_OFF(daemon), pt_conf_set_flag, "on", NULL,
	  "run the master in the background, detached from the terminal" },
	{ "master_process", PT_CTX_MAIN, 0, 0, 1, 1, PT_LEVEL_CORE,
	  CORE_OFF(master_process), pt_conf_set_flag, "on", NULL,
	  "fork workers under a master; off runs one worker in the foreground" },
	{ "worker_processes", PT_CTX_MAIN, 0, 0, 1, 1, PT_LEVEL_CORE,
	  CORE_OFF(worker_processes), core_set_workers, "1", NULL,
	  "number of worker processes, or auto for one per online CPU" },
	{ "pid", PT_CTX_MAIN, 0, 0, 1, 1, PT_LEVEL_CORE,
	  CORE_OFF(pid), pt_conf_set_str, "logs/portico.pid", NULL,
	  "file the master writes its process ID to, relative to the prefix" },
	{ "user", PT_CTX_MAIN, 0, 0, 1, 2, PT_LEVEL_CORE,
	  PT_NO_OFFSET, core_set_user, NULL, NULL,
	  "user and group workers run as when started as root; group defaults to the user's" },
	{ "worker_rlimit_nofile", PT_CTX_MAIN, 0, 0, 1, 1, PT_LEVEL_CORE,
	  CORE_OFF(worker_rlimit_nofile), pt_conf_set_num, NULL,
	  &core_nofile_bounds,
	  "open file limit (RLIMIT_NOFILE) for worker processes" },
	{ "worker_shutdown_timeout", PT_CTX_MAIN, 0, 0, 1, 1, PT_LEVEL_CORE,
	  CORE_OFF(worker_shutdown_timeout), pt_conf_set_msec, "0", NULL,
	  "longest graceful shutdown of a worker before it closes its connections; 0 = no limit" },
	{ "error_log", PT_CTX_MAIN, 0, 0, 1, 2, PT_LEVEL_CORE,
	  PT_NO_OFFSET, core_set_error_log, "logs/error.log error", NULL,
	  "error log file (or stderr) and the least severe level written" },
	{ "events", PT_CTX_MAIN, PT_D_BLOCK, PT_CTX_EVENTS, 0, 0, PT_LEVEL_NONE,
	  PT_NO_OFFSET, core_set_events, NULL, NULL,
	  "block of connection processing settings" },
	{ "worker_connections", PT_CTX_EVENTS, 0, 0, 1, 1, PT_LEVEL_CORE,
	  CORE_OFF(worker_connections), pt_conf_set_num, "512",
	  &core_connections_bounds,
	  "most simultaneous connections per worker, client and upstream together" },
	{ "use", PT_CTX_EVENTS, 0, 0, 1, 1, PT_LEVEL_NONE,
	  PT_NO_OFFSET, core_set_use, "epoll", NULL,
	  "connection processing method; only epoll exists" },
	{ "multi_accept", PT_CTX_EVENTS, 0, 0, 1, 1, PT_LEVEL_NONE,
	  PT_NO_OFFSET, core_set_multi_accept, "off", NULL,
	  "accepted for nginx compatibility; each worker drains its own listen queue" },
	PT_DIRECTIVE_END
};

struct pt_module pt_mod_core = {
	.name = "core",
	.directives = core_directives,
	.conf_size = { [PT_LEVEL_CORE] = sizeof(struct pt_core_conf) },
	.conf_create = core_conf_create,
	.conf_merge = core_conf_merge,
	.postconfig = core_postconfig,
};

/* worker_processes N|auto: auto is stored as 0 */
static const char *
core_set_workers(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_core_conf	*core = conf;
	const char		*s = cf->node->args[0];
	long			 n;

	(void)d;
	if (strcmp(s, "auto") == 0) {
		core->worker_processes = 0;
		return NULL;
	}
	if (pt_parse_int(s, 1, CORE_MAX_WORKERS, &n) != PT_OK)
		return pt_psprintf(cf->pool, "invalid number \"%s\" "
		    "(1..%d or auto)", s, CORE_MAX_WORKERS);
	core->worker_processes = n;
	return NULL;
}

/* user USER [GROUP]: checked now when running as root, ignored otherwise */
static const char *
core_set_user(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_core_conf	*core = conf;
	const char		*user = cf->node->args[0];
	const char		*group = cf->node->nargs > 1 ? cf->node->args[1] : NULL;

	(void)d;
	if (geteuid() != 0) {
		pt_log(PT_LOG_WARN, 0, "%s:%d: the \"user\" directive makes sense "
		    "only if the master process runs with super-user privileges, "
		    "ignored", cf->node->file, cf->node->line);
		return NULL;
	}
	errno = 0;
	if (getpwnam(user) == NULL)
		return pt_psprintf(cf->pool, "getpwnam(\"%s\") failed%s%s", user,
		    errno ? ": " : ": no such user", errno ? strerror(errno) : "");
	if (group != NULL) {
		errno = 0;
		if (getgrnam(group) == NULL)
			return pt_psprintf(cf->pool, "getgrnam(\"%s\") failed%s%s",
			    group, errno ? ": " : ": no such group",
			    errno ? strerror(errno) : "");
	}
	core->user = pt_pstrdup(cf->pool, user);
	core->group = group != NULL ? pt_pstrdup(cf->pool, group) : NULL;
	return NULL;
}

/* error_log FILE|stderr [LEVEL] */
static const char *
core_set_error_log(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_core_conf	*core = conf;
	const char		*path = cf->node->args[0];
	int			 i;

	(void)d;
	if (strncmp(path, "syslog:", 7) == 0 || strncmp(path, "memory:", 7) == 0)
		return pt_psprintf(cf->pool, "\"%s\": only a file or stderr "
		    "is supported", path);
	if (path[0] == '\0')
		return "empty file name";
	core->error_log = strcmp(path, "stderr") == 0 ?
	    pt_pstrdup(cf->pool, "stderr") : pt_cycle_path(cf->cycle, path);
	core->error_log_level = PT_LOG_ERR;
	if (cf->node->nargs < 2)
		return NULL;
	for (i = 1; pt_log_level_names[i] != NULL; i++) {
		if (strcmp(pt_log_level_names[i], cf->node->args[1]) == 0) {
			core->error_log_level = i;
			return NULL;
		}
	}
	return pt_psprintf(cf->pool, "invalid log level \"%s\"", cf->node->args[1]);
}

/* events { ... } */
static const char *
core_set_events(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	(void)d;
	(void)conf;
	if (pt_conf_apply_block(cf, cf->node, PT_CTX_EVENTS) != PT_OK)
		return "";	/* already logged with file:line */
	return NULL;
}

/* use epoll: the only method on Linux worth having */
static const char *
core_set_use(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	(void)d;
	(void)conf;
	if (strcmp(cf->node->args[0], "epoll") != 0)
		return pt_psprintf(cf->pool, "invalid event type \"%s\" "
		    "(only epoll is supported)", cf->node->args[0]);
	return NULL;
}

/* multi_accept on|off: validated, no effect */
static const char *
core_set_multi_accept(struct pt_conf_ctx *cf, const struct pt_directive *d,
    void *conf)
{
	(void)d;
	(void)conf;
	if (pt_conf_parse_flag(cf->node->args[0]) == -1)
		return pt_psprintf(cf->pool, "invalid value \"%s\", it must be "
		    "\"on\" or \"off\"", cf->node->args[0]);
	return NULL;
}

/* mark the fields the custom setters own as unset */
static void
core_conf_create(struct pt_conf_ctx *cf, enum pt_conf_level level, void *conf)
{
	struct pt_core_conf	*core = conf;

	(void)cf;
	if (level != PT_LEVEL_CORE)
		return;
	core->worker_processes = PT_UNSET;
	core->user = NULL;
	core->group = NULL;
	core->error_log = NULL;
	core->error_log_level = PT_UNSET;
}

/* defaults of the custom fields; absolute pid path */
static const char *
core_conf_merge(struct pt_conf_ctx *cf, enum pt_conf_level level, void *parent,
    void *child)
{
	struct pt_core_conf	*core = child;

	(void)parent;
	if (level != PT_LEVEL_CORE)
		return NULL;
	if (core->worker_processes == PT_UNSET)
		core->worker_processes = 1;
	if (core->worker_rlimit_nofile == PT_UNSET)
		core->worker_rlimit_nofile = 0;
	if (core->pid == NULL || core->pid[0] == '\0')
		return "\"pid\" must name a file";
	core->pid = pt_cycle_path(cf->cycle, core->pid);
	if (core->error_log == NULL)
		core->error_log = pt_cycle_path(cf->cycle, "logs/error.log");
	if (core->error_log_level == PT_UNSET)
		core->error_log_level = PT_LOG_ERR;
	return NULL;
}

static int
core_postconfig(struct pt_cycle *cycle)
{
	cycle->core = cycle->core_conf[pt_mod_core.index];
	return PT_OK;
}
