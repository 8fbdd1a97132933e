/*
 * module.h: what a compiled-in module declares. The core knows modules
 * only through the list in modules/modules.c; no core code names one.
 */
#ifndef PT_MODULE_H
#define PT_MODULE_H

#include "conf.h"

struct pt_cycle;
struct pt_request;
struct pt_var_def;

enum pt_phase {
#define PT_PHASE(n)	PT_PHASE_##n,
#include "tbl/phases.h"
#undef PT_PHASE
	PT_PHASE_MAX
};
extern const char *const pt_phase_names[];

/*
 * A phase handler returns PT_OK (next handler in this phase... see
 * http_phase.c), PT_DECLINED (go on), PT_AGAIN (it will resume the request
 * itself later with pt_http_run_phases()), PT_DONE (request finished by the
 * handler), or an HTTP status >= 100 to finalize with that status.
 */
typedef int (*pt_phase_fn)(struct pt_request *r);

struct pt_module {
	const char		*name;		/* "proxy"; shown by -V */
	const struct pt_directive *directives;	/* PT_DIRECTIVE_END-terminated or NULL */
	size_t			 conf_size[PT_LEVEL_MAX]; /* per level; 0 = none */

	/* master, config time; all optional */
	/* initialise compound (non-generic) fields of a fresh conf */
	void	(*conf_create)(struct pt_conf_ctx *cf, enum pt_conf_level level, void *conf);
	/* after generic merge; <parent> NULL at the top level. NULL or error text */
	const char *(*conf_merge)(struct pt_conf_ctx *cf, enum pt_conf_level level,
		    void *parent, void *child);
	/* after the whole tree is applied: register phases, variables, filters */
	int	(*postconfig)(struct pt_cycle *cycle);
	/* master, after zones are mapped (also on reload) */
	int	(*init_master)(struct pt_cycle *cycle);
	/* worker lifecycle, after privileges were dropped */
	int	(*init_worker)(struct pt_cycle *cycle);
	void	(*exit_worker)(struct pt_cycle *cycle);

	/* variables this module provides, PT_VAR_DEF_END-terminated or NULL */
	const struct pt_var_def	*variables;

	int	 index;				/* set at startup: position in pt_modules */
};

/* the compiled-in modules, NULL-terminated (modules/modules.c) */
extern struct pt_module *pt_modules[];
extern int pt_nmodules;
/* set each module's index; call once at startup */
void	pt_modules_init(void);

/*
 * Register <fn> for <phase> with <priority>; lower runs first. Two
 * handlers with the same phase and priority are a configuration error.
 * Called from postconfig. Returns PT_OK or PT_ERROR (logged).
 */
int	pt_phase_add(struct pt_cycle *cycle, enum pt_phase phase, int priority,
	    pt_phase_fn fn);

#endif /* PT_MODULE_H */
