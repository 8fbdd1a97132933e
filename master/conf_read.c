/*
 * conf_read.c: read configuration files into the node tree (master only).
 *
 * Dialect of a file. Each file decides on its own, included files too:
 *   1. a first line "# portico: nginx" or "# portico: native" (spaces
 *      around the words are optional) names the dialect;
 *   2. otherwise, a file containing a ';' outside quoted strings and
 *      comments is in the nginx dialect;
 *   3. otherwise it is native (libconfuse never accepts ';' as a token,
 *      so a native file cannot contain one outside strings and comments).
 * For rule 2, '#' starts a comment anywhere; "//" and "/ *" start one at
 * the beginning of a word (so "http://x;" still counts), and a quote
 * starts a string only at the beginning of a word.
 *
 * include: relative paths and patterns are resolved against the directory
 * of the main configuration file. Patterns are expanded with glob(3), in
 * sorted order; a pattern with wildcards that matches nothing is fine, a
 * plain path that does not exist is an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "pool.h"
#include "conf_priv.h"

/* biggest configuration file read (bytes) */
#define CONF_MAX_FILE	(64u * 1024 * 1024)

/*
 * Intern <file> into rd->pool; consecutive nodes of the same file share
 * one copy. Returns the pooled string.
 */
const char *
pt_conf_file_name(struct pt_conf_reader *rd, const char *file)
{
	if (rd->last_file == NULL || strcmp(rd->last_file, file) != 0)
		rd->last_file = pt_pstrdup(rd->pool, file);
	return rd->last_file;
}

/*
 * Allocate a directive node named <name> (copied) at <file>:<line>
 * (<file> must already live in the pool). Returns the node, with an
 * empty NULL-terminated argument array.
 */
struct pt_conf_node *
pt_conf_node_new(struct pt_conf_reader *rd, const char *name, const char *file,
    int line)
{
	static char *noargs[1] = { NULL };
	struct pt_conf_node *n;

	n = pt_pcalloc(rd->pool, sizeof(*n));
	n->name = pt_pstrdup(rd->pool, name);
	n->args = noargs;
	n->file = file;
	n->line = line;
	return n;
}

/*
 * Append <arg> (already in <pool>) to <n>->args, growing the array from
 * <pool> (arrays are short; the old one is left to the pool).
 */
void
pt_conf_node_add_arg(struct pt_pool *pool, struct pt_conf_node *n, char *arg)
{
	char **args;

	args = pt_palloc(pool, sizeof(char *) * (size_t)(n->nargs + 2));
	if (n->nargs > 0)
		memcpy(args, n->args, sizeof(char *) * (size_t)n->nargs);
	args[n->nargs++] = arg;
	args[n->nargs] = NULL;
	n->args = args;
}

/* Returns the last child of <parent>, or NULL when it has none. */
struct pt_conf_node *
pt_conf_node_last(const struct pt_conf_node *parent)
{
	struct pt_conf_node *n = parent->children;

	while (n != NULL && n->next != NULL)
		n = n->next;
	return n;
}

/* does the first line of <buf> name a dialect? -1 if not */
static int
conf_dialect_line(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	size_t wl;

	if (p == end || *p != '#')
		return -1;
	p++;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if ((size_t)(end - p) < 8 || memcmp(p, "portico:", 8) != 0)
		return -1;
	p += 8;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	for (wl = 0; p + wl < end && p[wl] != '\n' && p[wl] != '\r'
	    && p[wl] != ' ' && p[wl] != '\t'; wl++)
		;
	if (wl == 5 && memcmp(p, "nginx", 5) == 0)
		return PT_DIALECT_NGINX;
	if (wl == 6 && memcmp(p, "native", 6) == 0)
		return PT_DIALECT_NATIVE;
	return -1;
}

/*
 * Decide the dialect of <len> bytes at <buf> with the rule at the top of
 * this file. Returns PT_DIALECT_NGINX or PT_DIALECT_NATIVE.
 */
enum pt_conf_dialect
pt_conf_dialect(const char *buf, size_t len)
{
	const char *p, *end = buf + len;
	int d, word_start = 1;
	char q;

	if ((d = conf_dialect_line(buf, len)) >= 0)
		return (enum pt_conf_dialect)d;

	for (p = buf; p < end; p++) {
		switch (*p) {
		case ';':
			return PT_DIALECT_NGINX;
		case '#':
			while (p < end && *p != '\n')
				p++;
			word_start = 1;
			continue;
		case '/':
			if (word_start && p + 1 < end && p[1] == '/') {
				while (p < end && *p != '\n')
					p++;
				word_start = 1;
				continue;
			}
			if (word_start && p + 1 < end && p[1] == '*') {
				for (p += 2; p + 1 < end && !(p[0] == '*' && p[1] == '/'); p++)
					;
				p++;
				word_start = 1;
				continue;
			}
			break;
		case '"':
		case '\'':
			if (!word_start)
				break;
			q = *p;
			for (p++; p < end && *p != q; p++)
				if (*p == '\\' && p + 1 < end)
					p++;
			word_start = 0;
			continue;
		case ' ': case '\t': case '\r': case '\n':
		case '=': case '{': case '}': case '(': case ')': case ',':
			word_start = 1;
			continue;
		case '\\':
			if (p + 1 < end)
				p++;
			break;
		}
		word_start = 0;
	}
	return PT_DIALECT_NATIVE;
}

/*
 * Read the whole of <path> into a heap buffer (NUL-terminated, caller
 * frees). Returns NULL with the error logged.
 */
static char *
conf_load(const char *path, size_t *lenp, const char *from_file, int from_line)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	ssize_t n;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		err = errno;
		if (from_file != NULL)
			pt_log(PT_LOG_EMERG, err, "%s:%d: open() \"%s\" failed",
			    from_file, from_line, path);
		else
			pt_log(PT_LOG_EMERG, err, "open() \"%s\" failed", path);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > CONF_MAX_FILE) {
		if (from_file != NULL)
			pt_log(PT_LOG_EMERG, 0, "%s:%d: \"%s\" is not a regular file of at"
			    " most %u bytes", from_file, from_line, path, CONF_MAX_FILE);
		else
			pt_log(PT_LOG_EMERG, 0, "\"%s\" is not a regular file of at most %u"
			    " bytes", path, CONF_MAX_FILE);
		close(fd);
		return NULL;
	}
	buf = pt_xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			pt_log(PT_LOG_EMERG, n < 0 ? errno : 0, "read() \"%s\" failed", path);
			close(fd);
			free(buf);
			return NULL;
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*lenp = got;
	return buf;
}

/* read one file; <from_file>:<from_line> is the include site or NULL */
static int
conf_read(struct pt_conf_reader *rd, const char *path, struct pt_conf_node *parent,
    unsigned ctx, const char *from_file, int from_line)
{
	const char *file;
	char *buf;
	size_t len;
	int rc;

	buf = conf_load(path, &len, from_file, from_line);
	if (buf == NULL)
		return PT_ERROR;
	file = pt_conf_file_name(rd, path);
	if (pt_conf_dialect(buf, len) == PT_DIALECT_NGINX)
		rc = pt_conf_nginx_parse(rd, buf, len, file, parent, ctx);
	else
		rc = pt_conf_native_parse(rd, buf, len, file, parent, ctx);
	free(buf);
	return rc;
}

/*
 * Read <path> into <parent> (context <ctx>) in the file's own dialect.
 * <path> is absolute or relative to rd->conf_dir. Returns PT_OK or
 * PT_ERROR (logged).
 */
int
pt_conf_read_file(struct pt_conf_reader *rd, const char *path,
    struct pt_conf_node *parent, unsigned ctx)
{
	if (path[0] != '/')
		path = pt_psprintf(rd->pool, "%s%s", rd->conf_dir, path);
	return conf_read(rd, path, parent, ctx, NULL, 0);
}

/*
 * Read <len> bytes at <text> as nginx-dialect directives named <name> in
 * messages, appending to <parent>. Returns PT_OK or PT_ERROR (logged).
 */
int
pt_conf_read_string(struct pt_conf_reader *rd, const char *text, size_t len,
    const char *name, struct pt_conf_node *parent, unsigned ctx)
{
	return pt_conf_nginx_parse(rd, text, len, pt_conf_file_name(rd, name),
	    parent, ctx);
}

/*
 * Expand include <pattern> (written at <file>:<line>, children in context
 * <ctx>) and read every matching file, sorted, into a detached list whose
 * head is stored in *<first> (NULL when nothing matched). Returns PT_OK or
 * PT_ERROR (logged).
 */
int
pt_conf_include(struct pt_conf_reader *rd, const char *pattern, const char *file,
    int line, unsigned ctx, struct pt_conf_node **first)
{
	struct pt_conf_node holder;
	const char *full;
	glob_t gl;
	size_t i;
	int rc, grc;

	*first = NULL;
	if (rd->nest >= PT_CONF_MAX_INCLUDE) {
		pt_log(PT_LOG_EMERG, 0, "%s:%d: includes nested too deeply (more than %d)",
		    file, line, PT_CONF_MAX_INCLUDE);
		return PT_ERROR;
	}
	if (pattern[0] == '\0') {
		pt_log(PT_LOG_EMERG, 0, "%s:%d: empty file name in \"include\" directive",
		    file, line);
		return PT_ERROR;
	}
	full = pattern[0] == '/' ? pattern
	    : pt_psprintf(rd->pool, "%s%s", rd->conf_dir, pattern);

	memset(&holder, 0, sizeof(holder));
	memset(&gl, 0, sizeof(gl));
	grc = glob(full, 0, NULL, &gl);
	if (grc == GLOB_NOMATCH) {
		globfree(&gl);
		if (strpbrk(pattern, "*?[") != NULL)
			return PT_OK;
		pt_log(PT_LOG_EMERG, ENOENT, "%s:%d: open() \"%s\" failed", file, line, full);
		return PT_ERROR;
	}
	if (grc != 0) {
		globfree(&gl);
		pt_log(PT_LOG_EMERG, errno, "%s:%d: glob() \"%s\" failed", file, line, full);
		return PT_ERROR;
	}

	rc = PT_OK;
	rd->nest++;
	for (i = 0; i < gl.gl_pathc && rc == PT_OK; i++)
		rc = conf_read(rd, gl.gl_pathv[i], &holder, ctx, file, line);
	rd->nest--;
	globfree(&gl);
	*first = holder.children;
	return rc;
}
