/*
 * var.h: variables ($name) and complex values (strings with variables
 * compiled once at config time, evaluated per request into its pool).
 */
#ifndef PT_VAR_H
#define PT_VAR_H

#include "core.h"
#include "conf.h"
#include "pool.h"

struct pt_request;
struct pt_cycle;

/*
 * Get a variable's value for <r>. <data> is the registration's data, or
 * for prefix variables ($http_*, $arg_*, $cookie_*, $sent_http_*,
 * $upstream_http_*) a struct pt_str * holding the suffix. Returns PT_OK
 * with <out> set (pointing into request/connection memory), or
 * PT_DECLINED when the variable has no value (logged as "-").
 */
typedef int (*pt_var_get_fn)(struct pt_request *r, void *data, struct pt_str *out);

#define PT_VAR_PREFIX		0x01	/* name is a prefix: $http_ matches $http_x */
#define PT_VAR_NOCACHE		0x02	/* value may change during a request */

/*
 * Modules declare their variables statically (struct pt_module.variables),
 * so they exist before any directive is applied. A name declared twice is
 * reported at startup by pt_var_check().
 */
struct pt_var_def {
	const char	*name;		/* without '$'; for PT_VAR_PREFIX the prefix */
	unsigned	 flags;		/* PT_VAR_* */
	pt_var_get_fn	 get;		/* getter */
	void		*data;		/* passed to <get> (not for prefix vars) */
};
#define PT_VAR_DEF_END	{ NULL, 0, NULL, NULL }

/* a compiled string with variables */
struct pt_cv_part {
	struct pt_str	 lit;		/* literal bytes, or */
	pt_var_get_fn	 get;		/* variable getter (NULL for literal) */
	void		*data;		/* getter data */
};
struct pt_cv {
	struct pt_cv_part *parts;	/* in order */
	int		 nparts;
	struct pt_str	 raw;		/* source text, for messages/-T */
	unsigned	 is_const:1;	/* no variables: value is raw */
};

/*
 * Compile <text> ("$var", "${var}", literal "$" when not followed by a
 * name). An unknown variable is an error: returns NULL and sets *err.
 * Called from setters (variables must be registered before: modules
 * register theirs in a registration pass before the tree is applied —
 * see pt_var_register_all()).
 */
struct pt_cv	*pt_cv_compile(struct pt_conf_ctx *cf, const char *text, const char **err);
/* evaluate into <out> (request pool); never fails: missing vars are "" */
void		 pt_cv_eval(struct pt_request *r, const struct pt_cv *cv, struct pt_str *out);
/*
 * Resolve variable <name> (without '$') over all modules' tables; for a
 * prefix variable <data> is set to a struct pt_str suffix allocated from
 * cf->pool. Returns PT_OK or PT_DECLINED (unknown).
 */
int		 pt_var_lookup(struct pt_conf_ctx *cf, struct pt_str name, pt_var_get_fn *get,
		    void **data);
/*
 * Define variable <name> from a directive (set, map, split_clients, a
 * named capture) with getter <get>/<data>. PT_OK (also when it is
 * already defined with the same getter: the first <data> stays),
 * PT_DECLINED when the name belongs to a module or to another getter,
 * PT_ERROR outside the http block.
 */
int		 pt_var_define(struct pt_conf_ctx *cf, struct pt_str name, pt_var_get_fn get,
		    void *data);
/* the <data> of <name> if it is defined with <get>, else NULL */
void		*pt_var_defined_data(struct pt_conf_ctx *cf, struct pt_str name, pt_var_get_fn get);
/* after the http block: every variable used is defined; PT_OK or PT_ERROR */
int		 pt_var_check_defined(struct pt_cycle *cycle);
/* startup check: no variable name declared twice; PT_OK or PT_ERROR (logged) */
int		 pt_var_check(void);

/* the http core variables ($remote_addr, $uri, ...); see var.c */
extern const struct pt_var_def pt_http_core_variables[];

/*
 * access log (modules/http/http_log_module.c): in a worker, flush the
 * access log buffers of <cycle> and reopen each file in place (USR1).
 */
void		 pt_http_log_reopen(struct pt_cycle *cycle);

#endif /* PT_VAR_H */
