/*
 * conf_priv.h: internals of the configuration subsystem (master only).
 *
 * Reading: conf_read.c opens a file, decides its dialect and hands it to
 * conf_nginx.c (hand-written tokenizer) or conf_native.c (libconfuse with
 * a schema generated from the directive tables). Both append nodes to a
 * struct pt_conf_node tree allocated from the cycle pool. Only
 * conf_native.c includes confuse.h.
 *
 * Applying: conf_apply.c walks the tree against the directive tables.
 */
#ifndef PT_CONF_PRIV_H
#define PT_CONF_PRIV_H

#include "conf.h"
#include "module.h"

/* pseudo context of the children of a PT_D_RAW_BLOCK directive */
#define PT_CTX_RAW		0x80000000u

/* deepest include nesting (main file = 0) */
#define PT_CONF_MAX_INCLUDE	32
/* deepest block nesting the nginx reader accepts */
#define PT_CONF_MAX_NEST	64
/*
 * Deepest block nesting within one native-dialect file. libconfuse copies
 * a section's whole option tree eagerly (cfg_init and every section
 * instance), so a recursive context (location in location) must be cut
 * at a fixed depth: main = 0, http = 1, server = 2, location = 3, ...
 */
#define PT_CONF_NATIVE_DEPTH	10

enum pt_conf_dialect {
	PT_DIALECT_NATIVE = 0,	/* libconfuse: name = value, name "title" { } */
	PT_DIALECT_NGINX,	/* name args; name args { } */
};

/* state shared by the readers while one tree is built */
struct pt_conf_reader {
	struct pt_pool	*pool;		/* owner of every node and string */
	const char	*conf_dir;	/* directory of the main file, ends with '/' */
	int		 nest;		/* current include nesting */
	const char	*last_file;	/* last interned file name */
};

/* --- conf_read.c --- */

/*
 * Read <path> (absolute or relative to rd->conf_dir) in its own dialect
 * and append its directives to <parent>, whose children are in context
 * <ctx>. Returns PT_OK or PT_ERROR (logged as "file:line: message").
 */
int	pt_conf_read_file(struct pt_conf_reader *rd, const char *path,
	    struct pt_conf_node *parent, unsigned ctx);
/*
 * Read <len> bytes at <text> as the nginx dialect, named <name> in
 * messages (the -g string: "command line"), appending to <parent>.
 */
int	pt_conf_read_string(struct pt_conf_reader *rd, const char *text, size_t len,
	    const char *name, struct pt_conf_node *parent, unsigned ctx);
/*
 * Expand include <pattern> written at <file>:<line> and read every file
 * (sorted) into a temporary list returned in *<first>. A pattern with
 * glob characters that matches nothing is fine; a plain path that does
 * not exist is an error.
 */
int	pt_conf_include(struct pt_conf_reader *rd, const char *pattern,
	    const char *file, int line, unsigned ctx, struct pt_conf_node **first);
/* decide the dialect of a file's contents (rule in conf_read.c) */
enum pt_conf_dialect pt_conf_dialect(const char *buf, size_t len);
/* intern a file name into the reader's pool (same pointer for repeats) */
const char *pt_conf_file_name(struct pt_conf_reader *rd, const char *file);
/* allocate a node from <rd>'s pool */
struct pt_conf_node *pt_conf_node_new(struct pt_conf_reader *rd, const char *name,
	    const char *file, int line);
/* add <arg> (copied by the caller) to <n>'s NULL-terminated args */
void	pt_conf_node_add_arg(struct pt_pool *pool, struct pt_conf_node *n, char *arg);
/* the last child of <parent> or NULL */
struct pt_conf_node *pt_conf_node_last(const struct pt_conf_node *parent);

/* --- conf_nginx.c --- */

/*
 * Parse <len> bytes of nginx-dialect text from <file> and append the
 * directives to <parent> (context <ctx>). Includes are read on the spot.
 */
int	pt_conf_nginx_parse(struct pt_conf_reader *rd, const char *buf, size_t len,
	    const char *file, struct pt_conf_node *parent, unsigned ctx);
/*
 * Split <s> into words with the nginx dialect's quoting and escapes (used
 * for native section titles and directive defaults). On success returns
 * PT_OK and sets *<args> (NULL-terminated, from <pool>) and *<nargs>; on
 * error returns PT_ERROR with a static message in *<err>.
 */
int	pt_conf_split_words(struct pt_pool *pool, const char *s, char ***args,
	    int *nargs, const char **err);

/* --- conf_native.c --- */

/* parse <len> bytes of native-dialect file <path> into <parent> (context <ctx>) */
int	pt_conf_native_parse(struct pt_conf_reader *rd, const char *buf, size_t len,
	    const char *path, struct pt_conf_node *parent, unsigned ctx);

/* --- conf_apply.c --- */

/*
 * Find the row for <name> allowed in context <ctx> (0: in any context).
 * Sets *<mp> to its module when <mp> is not NULL. NULL if none.
 */
const struct pt_directive *pt_conf_find(const char *name, unsigned ctx,
	    struct pt_module **mp);
/* the context of the children of block directive <name> written in <ctx>, or 0 */
unsigned pt_conf_child_ctx(const char *name, unsigned ctx);
/* the closest directive name to unknown <name>, or NULL (did you mean) */
const char *pt_conf_suggest(const char *name);
/*
 * Check the modules' directive tables once at startup: one row per
 * (name, context), no "include" row, sane argument counts and generic
 * slots. Returns PT_OK or PT_ERROR (logged).
 */
int	pt_conf_check_tables(void);
/* the number of modules in pt_modules[] */
int	pt_conf_nmodules(void);

#endif /* PT_CONF_PRIV_H */
