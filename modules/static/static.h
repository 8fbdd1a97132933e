/*
 * static.h: the static file module: configuration (static_conf.c, master)
 * shared with the request side (static_module.c: path mapping, index,
 * try_files; static_send.c: validators, ranges and the file output).
 */
#ifndef PT_STATIC_H
#define PT_STATIC_H

#include <sys/stat.h>

#include "portico.h"

extern struct pt_module pt_mod_static;

/* one extension of a types { } block */
struct static_type {
	const char		*ext;		/* lowercase, without the dot */
	struct pt_str		 type;		/* MIME type */
};

/* a types { } block: extensions sorted for a binary search */
struct static_types {
	struct static_type	*map;
	int			 n;
};

struct static_loc {
	struct pt_cv		*root;		/* root or alias value (NULL = unset) */
	unsigned		 alias:1;	/* <root> is an alias */
	unsigned		 alias_regex:1;	/* alias in a regex location: a full path */
	unsigned		 root_set:1;	/* root/alias written at this level */
	struct pt_str		 loc_name;	/* prefix replaced by an alias */
	struct pt_array		*index;		/* struct pt_cv *; NULL = inherited */
	struct pt_array		*try_files;	/* struct pt_cv *, the last one is the
						   fallback (=CODE, @name or URI) */
	int			 try_code;	/* try_files ... =CODE, 0 = URI/@name */
	struct static_types	*types;		/* NULL = inherited */
	int			 disable_symlinks;
	int			 etag;
	int			 sendfile;
	int			 autoindex;
	long			 max_ranges;
};

/* a file opened for a request; closed with the request's pool */
struct static_file {
	int			 fd;
	struct stat		 st;
	struct pt_str		 path;		/* NUL-terminated */
};

/* static_send.c: answer <r> with the file <f> (GET/HEAD); returns as a content handler */
int	static_send_file(struct pt_request *r, struct static_loc *sl, struct static_file *f);
/* the MIME type of <path> by its extension (default_type when unknown) */
struct pt_str	static_mime_type(struct pt_request *r, struct static_loc *sl, struct pt_str path);

/* static_conf.c: the built-in types used when no types { } block is set */
extern struct static_types static_default_types;

#endif /* PT_STATIC_H */
