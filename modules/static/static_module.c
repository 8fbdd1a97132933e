/*
 * static_module.c: serving files (the request side). The default content
 * handler of locations that have none (no proxy_pass, return...): maps
 * the URI to a path under root or alias, tries the index files for a
 * directory URI, and hands a regular file to static_send.c. try_files
 * runs in the PRECONTENT phase.
 *
 * The URI is already decoded and normalised by the parser ("..", "%2e%2e"
 * and "%00" never reach here from a client); URIs made by rewrite or
 * try_files are checked again, and every path is checked for a ".."
 * segment and NUL before it is opened.
 */
#define _GNU_SOURCE	/* O_PATH */
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include "static.h"

/* is <s> free of NUL bytes and ".." segments? */
static int
static_path_safe(const char *s, size_t n)
{
	size_t i, seg = 0;

	if (memchr(s, '\0', n) != NULL)
		return 0;
	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == '/') {
			if (i - seg == 2 && s[seg] == '.' && s[seg + 1] == '.')
				return 0;
			seg = i + 1;
		}
	}
	return 1;
}

/* root or alias of <sl> for <r>, absolute */
static struct pt_str
static_root_value(struct pt_request *r, struct static_loc *sl)
{
	struct pt_str v;

	pt_cv_eval(r, sl->root, &v);
	if (v.len == 0 || v.data[0] != '/') {
		/* a root made of variables, relative: against the prefix */
		const char *prefix = pt_worker.cycle->prefix;

		v.data = pt_psprintf(r->pool, "%s%.*s", prefix, (int)v.len, v.data);
		v.len = strlen(v.data);
	}
	return v;
}

/*
 * The file path of <uri> (NUL-terminated, in r's pool) followed by
 * <extra>. Returns PT_OK, 404 (not under the alias prefix) or 403 (an
 * unsafe path, logged).
 */
static int
static_map(struct pt_request *r, struct static_loc *sl, struct pt_str uri, struct pt_str extra,
    struct pt_str *path)
{
	struct pt_str root = static_root_value(r, sl), tail = uri;
	char *p;

	if (sl->alias_regex) {
		/* the alias is the whole path, made with the location's captures */
		tail = PT_NULL_STR;
		if (!static_path_safe(root.data, root.len))
			goto unsafe;
	} else if (sl->alias) {
		if (uri.len < sl->loc_name.len || memcmp(uri.data, sl->loc_name.data,
		    sl->loc_name.len) != 0) {
			pt_log(PT_LOG_ERR, 0, "URI \"%.*s\" is outside the alias prefix \"%.*s\"",
			    (int)uri.len, uri.data, (int)sl->loc_name.len, sl->loc_name.data);
			return 404;
		}
		tail.data = uri.data + sl->loc_name.len;
		tail.len = uri.len - sl->loc_name.len;
		/* "alias /a/" with "/x../y" must not reach /y: check with a "/" in front */
		p = pt_palloc(r->pool, tail.len + 2);
		p[0] = '/';
		memcpy(p + 1, tail.data, tail.len);
		if (!static_path_safe(p, tail.len + 1))
			goto unsafe;
	} else if (!static_path_safe(uri.data, uri.len)) {
		goto unsafe;
	}
	if (!static_path_safe(extra.data != NULL ? extra.data : "", extra.len))
		goto unsafe;
	p = pt_palloc(r->pool, root.len + tail.len + extra.len + 1);
	path->data = p;
	p = pt_cpymem(p, root.data, root.len);
	if (tail.len > 0)
		p = pt_cpymem(p, tail.data, tail.len);
	if (extra.len > 0)
		p = pt_cpymem(p, extra.data, extra.len);
	*p = '\0';
	path->len = (size_t)(p - path->data);
	return PT_OK;
unsafe:
	pt_log(PT_LOG_ERR, 0, "unsafe path refused for URI \"%.*s\" in %s", (int)uri.len,
	    uri.data, r->c->peer.text);
	return 403;
}

/*
 * open(2) <path> with <flags>, refusing a symbolic link in any component
 * (disable_symlinks on): each directory is opened with O_NOFOLLOW from
 * the previous one. Returns the descriptor or -1 with errno (ELOOP for a
 * link).
 */
static int
static_open_nofollow(const char *path, int flags)
{
	char comp[NAME_MAX + 1];
	const char *p = path, *s, *rest;
	int dfd, fd, e;
	size_t n;

	dfd = open(path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1)
		return -1;
	for (;;) {
		struct stat st;

		while (*p == '/')
			p++;
		s = strchr(p, '/');
		n = s != NULL ? (size_t)(s - p) : strlen(p);
		if (n == 0) {
			fd = openat(dfd, ".", flags);
			close(dfd);
			return fd;
		}
		if (n > NAME_MAX) {
			close(dfd);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		for (rest = s; rest != NULL && *rest == '/'; rest++)
			;
		if (rest == NULL || *rest == '\0') {
			fd = openat(dfd, comp, flags | O_NOFOLLOW);
			e = errno;
			close(dfd);
			errno = e;
			return fd;
		}
		fd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1) {
			e = errno;
			if (e == ENOTDIR && fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				e = ELOOP;
			close(dfd);
			errno = e;
			return -1;
		}
		close(dfd);
		dfd = fd;
		p = s;
	}
}

static void
static_file_close(void *data)
{
	struct static_file *f = data;

	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

/* HTTP status for a failed open/stat of <path> (logged unless <quiet>) */
static int
static_errno_status(struct pt_request *r, struct static_loc *sl, const char *op,
    const char *path, int err, int quiet)
{
	int status;

	switch (err) {
	case ENOENT:
	case ENOTDIR:
	case ENAMETOOLONG:
		status = 404;
		break;
	case EACCES:
	case EPERM:
		status = 403;
		break;
	case ELOOP:
		status = sl->disable_symlinks ? 403 : 404;
		break;
	default:
		status = 500;
	}
	if (!quiet || status == 500)
		pt_log(PT_LOG_ERR, err, "%s() \"%s\" failed, "
		    "client: %s, request: \"%.*s\"", op, path, r->c->peer.text,
		    (int)r->request_line.len, r->request_line.data);
	return status;
}

/* open <path> for reading into <f> (closed with r's pool); PT_OK or a status */
static int
static_open(struct pt_request *r, struct static_loc *sl, struct pt_str path,
    struct static_file *f, int quiet)
{
	int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC;

	f->path = path;
	f->fd = sl->disable_symlinks ? static_open_nofollow(path.data, flags) :
	    open(path.data, flags);
	if (f->fd == -1)
		return static_errno_status(r, sl, "open", path.data, errno, quiet);
	pt_pool_cleanup_add(r->pool, static_file_close, f);
	if (fstat(f->fd, &f->st) == -1)
		return static_errno_status(r, sl, "fstat", path.data, errno, quiet);
	return PT_OK;
}

/* does <path> exist (as a directory when <dir>, else as a file)? */
static int
static_exists(struct pt_request *r, struct static_loc *sl, struct pt_str path, int dir,
    int *status)
{
	struct static_file *f = pt_pcalloc(r->pool, sizeof(*f));
	int rc;

	*status = 0;
	if (!sl->disable_symlinks) {
		if (stat(path.data, &f->st) == -1) {
			*status = static_errno_status(r, sl, "stat", path.data, errno, 1);
			return 0;
		}
	} else if ((rc = static_open(r, sl, path, f, 1)) != PT_OK) {
		*status = rc;
		return 0;
	}
	return dir ? S_ISDIR(f->st.st_mode) : !S_ISDIR(f->st.st_mode);
}

/* 301 to "<uri>/" for a directory requested without the slash */
static int
static_dir_redirect(struct pt_request *r)
{
	int tls = r->c->ssl != NULL, port;
	char portbuf[8] = "";
	struct pt_str loc;

	pt_conn_local_addr(r->c);
	port = pt_sockaddr_port(&r->c->local);
	if (port != (tls ? 443 : 80))
		snprintf(portbuf, sizeof(portbuf), ":%d", port);
	loc.data = pt_psprintf(r->pool, "%s://%.*s%s%.*s/%s%.*s", tls ? "https" : "http",
	    (int)r->host.len, r->host.data, portbuf, (int)r->uri.len, r->uri.data,
	    r->args.len > 0 ? "?" : "", (int)r->args.len, r->args.data);
	loc.len = strlen(loc.data);
	pt_http_out_add(r, PT_STR("Location"), loc);
	return 301;
}

/* internal redirect to <uri> with r's arguments */
static int
static_redirect_keep_args(struct pt_request *r, struct pt_str uri)
{
	if (r->args.len > 0 && memchr(uri.data, '?', uri.len) == NULL) {
		uri.data = pt_psprintf(r->pool, "%.*s?%.*s", (int)uri.len, uri.data,
		    (int)r->args.len, r->args.data);
		uri.len = strlen(uri.data);
	}
	return pt_http_internal_redirect(r, uri);
}

/* a URI ending with "/": the first index file that exists, or 403/404 */
static int
static_index(struct pt_request *r, struct static_loc *sl)
{
	struct pt_str path, name, uri;
	size_t i;
	int status, rc;

	for (i = 0; i < sl->index->nelts; i++) {
		pt_cv_eval(r, ((struct pt_cv **)sl->index->elts)[i], &name);
		if (name.len == 0)
			continue;
		if (name.data[0] == '/') {
			/* the last index may be an absolute URI: the fallback */
			return static_redirect_keep_args(r, name);
		}
		if ((rc = static_map(r, sl, r->uri, name, &path)) != PT_OK)
			return rc;
		if (static_exists(r, sl, path, 0, &status)) {
			uri.data = pt_psprintf(r->pool, "%.*s%.*s", (int)r->uri.len, r->uri.data,
			    (int)name.len, name.data);
			uri.len = strlen(uri.data);
			return static_redirect_keep_args(r, uri);
		}
		if (status != 0 && status != 404)
			return status;
	}
	if ((rc = static_map(r, sl, r->uri, PT_NULL_STR, &path)) != PT_OK)
		return rc;
	if (static_exists(r, sl, path, 1, &status)) {
		pt_log(PT_LOG_ERR, 0, "directory index of \"%s\" is forbidden, client: %s",
		    path.data, r->c->peer.text);
		return 403;
	}
	if (status == 404 || status == 0)
		pt_log(PT_LOG_ERR, 0, "\"%s\" is not found, client: %s", path.data,
		    r->c->peer.text);
	return status != 0 ? status : 404;
}

int	static_content(struct pt_request *r);
int
static_content(struct pt_request *r)
{
	struct static_loc *sl = pt_http_loc_conf(r, &pt_mod_static);
	struct static_file *f;
	struct pt_str path;
	int rc;

	if (r->method_id != PT_HTTP_GET && r->method_id != PT_HTTP_HEAD)
		return 405;
	if (!r->body_done)
		r->keepalive = 0;	/* the body is not read: do not parse it as a request */
	if (r->uri.len == 0 || r->uri.data[0] != '/')
		return 404;
	if (r->uri.data[r->uri.len - 1] == '/')
		return static_index(r, sl);
	if ((rc = static_map(r, sl, r->uri, PT_NULL_STR, &path)) != PT_OK)
		return rc;
	f = pt_pcalloc(r->pool, sizeof(*f));
	if ((rc = static_open(r, sl, path, f, 0)) != PT_OK)
		return rc;
	if (S_ISDIR(f->st.st_mode))
		return static_dir_redirect(r);
	if (!S_ISREG(f->st.st_mode)) {
		pt_log(PT_LOG_ERR, 0, "\"%s\" is not a regular file, client: %s", path.data,
		    r->c->peer.text);
		return 404;
	}
	return static_send_file(r, sl, f);
}

/*---- try_files (PRECONTENT phase) ----*/

int	static_try_files_handler(struct pt_request *r);
int
static_try_files_handler(struct pt_request *r)
{
	struct static_loc *sl = pt_http_loc_conf(r, &pt_mod_static);
	struct pt_array *a = sl->try_files;
	struct pt_str v, path;
	size_t i, nfiles;
	int status;

	if (a == NULL || a->nelts == 0)
		return PT_DECLINED;
	nfiles = sl->try_code ? a->nelts : a->nelts - 1;
	for (i = 0; i < nfiles; i++) {
		int dir;

		pt_cv_eval(r, ((struct pt_cv **)a->elts)[i], &v);
		if (v.len == 0)
			continue;
		dir = v.data[v.len - 1] == '/';
		if (v.data[0] != '/') {
			/* relative to the location as in nginx: made absolute */
			v.data = pt_psprintf(r->pool, "/%.*s", (int)v.len, v.data);
			v.len++;
		}
		if (static_map(r, sl, v, PT_NULL_STR, &path) != PT_OK)
			continue;
		if (static_exists(r, sl, path, dir, &status)) {
			r->uri = v;
			return PT_DECLINED;
		}
	}
	if (sl->try_code)
		return sl->try_code;
	pt_cv_eval(r, ((struct pt_cv **)a->elts)[a->nelts - 1], &v);
	if (v.len == 0 || (v.data[0] != '/' && v.data[0] != '@')) {
		pt_log(PT_LOG_ERR, 0, "invalid try_files fallback \"%.*s\"", (int)v.len, v.data);
		return 500;
	}
	return pt_http_internal_redirect(r, v);
}

/*---- variables ----*/

int	static_var_document_root(struct pt_request *r, void *data, struct pt_str *out);
int
static_var_document_root(struct pt_request *r, void *data, struct pt_str *out)
{
	struct static_loc *sl = pt_http_loc_conf(r, &pt_mod_static);

	(void)data;
	*out = static_root_value(r, sl);
	return PT_OK;
}

int	static_var_request_filename(struct pt_request *r, void *data, struct pt_str *out);
int
static_var_request_filename(struct pt_request *r, void *data, struct pt_str *out)
{
	struct static_loc *sl = pt_http_loc_conf(r, &pt_mod_static);

	(void)data;
	if (static_map(r, sl, r->uri, PT_NULL_STR, out) != PT_OK)
		return PT_DECLINED;
	return PT_OK;
}
