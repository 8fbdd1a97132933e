/*
 * conf.h: the configuration model shared by both dialects.
 *
 * A configuration file (native libconfuse syntax or the nginx dialect) is
 * first read into a tree of pt_conf_node: one node per directive, with its
 * arguments as strings and its file:line. master/conf_read.c builds the
 * tree; master/conf_apply.c walks it against the directive tables that the
 * modules declare (struct pt_directive) and fills each module's typed
 * configuration structs. Modules never see libconfuse.
 */
#ifndef PT_CONF_H
#define PT_CONF_H

#include "core.h"
#include "pool.h"

/* one directive occurrence in a configuration file */
struct pt_conf_node {
	const char		*name;		/* directive name */
	char			**args;		/* arguments, NULL-terminated */
	int			 nargs;		/* number of <args> */
	const char		*file;		/* file it was read from */
	int			 line;		/* line of the directive's name */
	unsigned		 block:1;	/* written with { ... } */
	struct pt_conf_node	*children;	/* first directive inside the block */
	struct pt_conf_node	*next;		/* next sibling */
};

/* contexts a directive may appear in (bit mask) */
#define PT_CTX_MAIN		0x0001	/* top level */
#define PT_CTX_EVENTS		0x0002	/* events { } */
#define PT_CTX_HTTP		0x0004	/* http { } */
#define PT_CTX_SERVER		0x0008	/* http { server { } } */
#define PT_CTX_LOCATION		0x0010	/* location { } (also nested) */
#define PT_CTX_UPSTREAM		0x0020	/* http { upstream NAME { } } */
#define PT_CTX_IF		0x0040	/* if (...) { } in server or location */
#define PT_CTX_LIMIT_EXCEPT	0x0080	/* reserved */
#define PT_CTX_OTHER		0x0100	/* a module-defined block (map, types) */
#define PT_CTX_HTTP_ANY		(PT_CTX_HTTP | PT_CTX_SERVER | PT_CTX_LOCATION)

/* directive flags */
#define PT_D_BLOCK		0x0001	/* takes a { } block */
#define PT_D_MULTI		0x0002	/* may be repeated in one context */
#define PT_D_RAW_BLOCK		0x0004	/* block children are not directives
					   (types, map): handed to the setter */
#define PT_D_OPT_BLOCK		0x0008	/* block is optional */
#define PT_D_ARGS_ANY		255	/* max_args: no upper bound */

/* which per-module configuration struct a directive writes into */
enum pt_conf_level {
	PT_LEVEL_CORE = 0,	/* one per cycle: main + events context */
	PT_LEVEL_HTTP,		/* one per cycle: http-wide settings */
	PT_LEVEL_SRV,		/* one per server (and one at http level) */
	PT_LEVEL_LOC,		/* one per location (and at http/server level) */
	PT_LEVEL_NONE,		/* the setter finds its own target */
	PT_LEVEL_MAX = PT_LEVEL_NONE,
};

struct pt_conf_ctx;
struct pt_directive;

/*
 * A directive setter. Called with <cf>->node set to the directive, and
 * <conf> pointing at the module's struct for the directive's level (NULL
 * for PT_LEVEL_NONE). Returns NULL on success or an error message
 * (static or allocated from cf->pool), which the caller prefixes with
 * file:line and the directive name.
 */
typedef const char *(*pt_conf_set_fn)(struct pt_conf_ctx *cf,
    const struct pt_directive *d, void *conf);

#define PT_NO_OFFSET	((size_t)-1)

struct pt_directive {
	const char		*name;		/* as written in the file */
	unsigned		 ctx;		/* PT_CTX_* where allowed */
	unsigned		 flags;		/* PT_D_* */
	unsigned		 block_ctx;	/* PT_D_BLOCK: context of its children */
	unsigned char		 min_args;	/* fewest arguments */
	unsigned char		 max_args;	/* most, or PT_D_ARGS_ANY */
	enum pt_conf_level	 level;		/* conf struct written */
	size_t			 offset;	/* field in that struct or PT_NO_OFFSET */
	pt_conf_set_fn		 set;		/* setter */
	const char		*def;		/* default as config text, or NULL */
	const void		*post;		/* setter data (enum names, bounds) */
	const char		*doc;		/* one line for -T directives / man check */
};
#define PT_DIRECTIVE_END	{ NULL, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }

/*
 * Generic setters for typed slots at <offset>. conf_apply.c knows them
 * by address: it initialises their fields to "unset", merges them from
 * the enclosing level, and applies <def> at the top, with the same parser.
 *   flag:  int, "on"/"off"                  num:   long (post: bounds)
 *   size:  size_t, "8k"                     msec:  pt_msec_t, "60s"
 *   str:   char *, copied into cycle pool   enum:  int, post = NULL-terminated names
 */
const char	*pt_conf_set_flag(struct pt_conf_ctx *, const struct pt_directive *, void *);
const char	*pt_conf_set_num(struct pt_conf_ctx *, const struct pt_directive *, void *);
const char	*pt_conf_set_size(struct pt_conf_ctx *, const struct pt_directive *, void *);
const char	*pt_conf_set_msec(struct pt_conf_ctx *, const struct pt_directive *, void *);
const char	*pt_conf_set_str(struct pt_conf_ctx *, const struct pt_directive *, void *);
const char	*pt_conf_set_enum(struct pt_conf_ctx *, const struct pt_directive *, void *);
/*   bufs:  struct pt_conf_bufs, "NUMBER SIZE" (proxy_buffers 8 4k); post:
 *          optional const size_t * smallest SIZE accepted */
const char	*pt_conf_set_bufs(struct pt_conf_ctx *, const struct pt_directive *, void *);

/* a "NUMBER SIZE" pair, the slot of pt_conf_set_bufs */
struct pt_conf_bufs {
	long		 num;		/* PT_UNSET until set */
	size_t		 size;
};

/* bounds for pt_conf_set_num, given as <post> */
struct pt_conf_bounds {
	long	min;
	long	max;
};

/* state while applying a configuration tree; see conf_apply.c */
struct pt_conf_ctx {
	struct pt_cycle		*cycle;		/* cycle being built */
	struct pt_pool		*pool;		/* == cycle->pool */
	unsigned		 ctx;		/* PT_CTX_* of the current block */
	const struct pt_conf_node *node;	/* directive being applied */
	void			**http_conf;	/* per module, PT_LEVEL_HTTP */
	void			**srv_conf;	/* per module, current server level */
	void			**loc_conf;	/* per module, current location level */
	void			*block_data;	/* block-specific (current upstream, ...) */
};

/*
 * Apply the children of <block> in context <ctx>, with the current
 * srv/loc conf arrays of <cf> (block setters like "server" and "location"
 * allocate new arrays, swap them into <cf>, call this, and restore).
 * Returns PT_OK or PT_ERROR (already logged with file:line).
 */
int	pt_conf_apply_block(struct pt_conf_ctx *cf, const struct pt_conf_node *block,
	    unsigned ctx);
/* allocate and initialise every module's conf struct for <level> */
void	**pt_conf_create_level(struct pt_conf_ctx *cf, enum pt_conf_level level);
/*
 * Merge the <level> confs of <child> from <parent> for every module
 * (typed slots generically, then each module's conf_merge). <parent> may
 * be NULL: defaults are applied. Returns PT_OK or PT_ERROR (logged).
 */
int	pt_conf_merge_level(struct pt_conf_ctx *cf, enum pt_conf_level level,
	    void **parent, void **child);

/* log "<file>:<line>: <fmt>" at emerg for the node being applied */
void	pt_conf_error(struct pt_conf_ctx *cf, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* parse a boolean "on"/"off"; returns 1, 0 or -1 */
int	pt_conf_parse_flag(const char *s);

/*
 * Print the tree under <root> in the native dialect (portico -T); the
 * output reads back into the same tree (master/conf_dump.c).
 */
void	pt_conf_dump(FILE *out, const struct pt_conf_node *root);
/* one line per directive row: name TAB contexts TAB default TAB doc */
void	pt_conf_dump_directives(FILE *out);

#endif /* PT_CONF_H */
