/*
 * conn.c: connection objects, socket I/O and address helpers.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/un.h>
#include <unistd.h>

#include "portico.h"

const char *const pt_close_codes[] = {
#define PT_CLOSE(n, code)	code,
#include "tbl/close_reasons.h"
#undef PT_CLOSE
};

struct pt_worker_state	pt_worker;

/* connections closed during this loop iteration; their pools die later */
/* connections closed in this loop iteration, linked through idle_next */
static struct pt_conn	*conn_graveyard;

static void
conn_io_handler(struct pt_io *io, uint32_t events)
{
	struct pt_conn *c = io->data;

	if (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
		c->hup = 1;
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
		c->readable = 1;
		if (c->tls_write_on_in) {
			/* the TLS write that needed the peer's bytes (tls_io.c) */
			c->tls_write_on_in = 0;
			c->writable = 1;
			if (c->on_write)
				c->on_write(c);
			if (io->fd < 0)
				return;
		}
		if (c->on_read)
			c->on_read(c);
		/* on_read may have closed the connection */
		if (io->fd < 0)
			return;
	}
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
		c->writable = 1;
		if (c->tls_read_on_out) {
			/* the TLS read that needed to write first (tls_io.c) */
			c->tls_read_on_out = 0;
			c->readable = 1;
			if (c->on_read)
				c->on_read(c);
			if (io->fd < 0)
				return;
		}
		if (c->on_write)
			c->on_write(c);
	}
}

static void
conn_timer_noop(struct pt_timer *t)
{
	(void)t;
}

struct pt_conn *
pt_conn_new(int fd, const struct pt_sockaddr *peer)
{
	struct pt_pool *pool;
	struct pt_conn *c;

	if (pt_worker.nconns >= pt_worker.max_conns) {
		pt_log(PT_LOG_ALERT, 0, "%u worker_connections are not enough", pt_worker.max_conns);
		return NULL;
	}
	/*
	 * Room for the connection and its protocol state (struct
	 * pt_http_conn: ~180 bytes): an idle keep-alive client costs this
	 * one block. TLS state and anything larger go to further blocks.
	 */
	pool = pt_pool_create(sizeof(*c) + 192);
	c = pt_pcalloc(pool, sizeof(*c));
	c->magic = PT_CONN_MAGIC;
	c->pool = pool;
	c->io.fd = fd;
	c->io.handler = conn_io_handler;
	c->io.data = c;
	pt_timer_init(&c->timer, conn_timer_noop, c);
	if (peer)
		c->peer = *peer;
	c->number = ++pt_worker.conn_number;
	if (pt_io_add(&c->io) != PT_OK) {
		pt_pool_destroy(pool);
		return NULL;
	}
	pt_worker.nconns++;
	return c;
}

/* free pools of connections closed in the last loop iteration */
void pt_conn_reap(void);
void
pt_conn_reap(void)
{
	struct pt_conn *c;

	while ((c = conn_graveyard) != NULL) {
		conn_graveyard = c->idle_next;
		pt_pool_destroy(c->pool);	/* frees <c> too */
	}
}

void
pt_conn_close(struct pt_conn *c, enum pt_close_reason why)
{
	PT_CHECK_OBJ(c, PT_CONN_MAGIC);
	(void)why;
	pt_timer_del(&c->timer);
	if (c->idle)
		pt_conn_set_idle(c, 0);
	if (c->ssl != NULL)
		pt_tls_close(c, why);
	if (c->io.fd >= 0) {
		close(c->io.fd);
		c->io.fd = -1;
	}
	c->io.handler = NULL;
	c->on_read = c->on_write = NULL;
	c->magic = 0;
	pt_worker.nconns--;
	/*
	 * The epoll batch being processed may still hold a pointer to this
	 * connection's pt_io: keep the memory until the batch is over.
	 */
	c->idle_next = conn_graveyard;
	conn_graveyard = c;
}

ssize_t
pt_conn_recv(struct pt_conn *c, struct pt_buf *b)
{
	ssize_t n;

	if (c->ssl != NULL) {
		n = pt_tls_recv(c, b->last, (size_t)(b->end - b->last));
		if (n > 0)
			b->last += n;
		return n;
	}
	for (;;) {
		n = recv(c->io.fd, b->last, (size_t)(b->end - b->last), 0);
		if (n > 0) {
			b->last += n;
			return n;
		}
		if (n == 0) {
			c->eof = 1;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->readable = 0;
			return PT_AGAIN;
		}
		c->error = 1;
		pt_log(PT_LOG_INFO, errno, "recv() failed on %s", c->peer.text);
		return PT_ERROR;
	}
}

/*
 * Send the file buffer <b> (the head of *<chain>) with sendfile(2).
 * PT_OK when all of it went out (*chain moves past it), else as
 * pt_conn_send_chain.
 */
static int
conn_sendfile(struct pt_conn *c, struct pt_buf **chain, struct pt_buf *b)
{
	while (b->file_pos < b->file_last) {
		off_t off = (off_t)b->file_pos;
		size_t len = (size_t)PT_MIN(b->file_last - b->file_pos, (int64_t)1 << 30);
		ssize_t n = sendfile(c->io.fd, b->file_fd, &off, len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->writable = 0;
				return PT_AGAIN;
			}
			c->error = 1;
			pt_log(PT_LOG_INFO, errno, "sendfile() failed on %s", c->peer.text);
			return PT_ERROR;
		}
		if (n == 0) {
			/* the file shrank under us: the response cannot be completed */
			c->error = 1;
			pt_log(PT_LOG_ERR, 0, "sendfile() reached the end of a file that was "
			    "truncated while being sent to %s", c->peer.text);
			return PT_ERROR;
		}
		b->file_pos += n;
		c->sent += (size_t)n;
	}
	*chain = b->next;
	return PT_OK;
}

int
pt_conn_send_chain(struct pt_conn *c, struct pt_buf **chain)
{
	struct iovec iov[64];
	struct pt_buf *b;
	ssize_t n;
	int cnt;

	if (c->ssl != NULL)
		return pt_tls_send_chain(c, chain);
	while (*chain != NULL) {
		cnt = 0;
		for (b = *chain; b != NULL && cnt < (int)PT_NELEM(iov); b = b->next) {
			if (b->in_file)
				break;		/* memory before it goes first */
			if (b->last == b->pos)
				continue;
			iov[cnt].iov_base = b->pos;
			iov[cnt].iov_len = (size_t)(b->last - b->pos);
			cnt++;
		}
		if (cnt == 0) {
			if (b != NULL && b->in_file) {
				int rc;

				*chain = b;
				if ((rc = conn_sendfile(c, chain, b)) != PT_OK)
					return rc;
				continue;
			}
			*chain = NULL;
			return PT_OK;
		}
		n = writev(c->io.fd, iov, cnt);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->writable = 0;
				return PT_AGAIN;
			}
			c->error = 1;
			pt_log(PT_LOG_INFO, errno, "writev() failed on %s", c->peer.text);
			return PT_ERROR;
		}
		c->sent += (size_t)n;
		for (b = *chain; b != NULL && !b->in_file; b = b->next) {
			size_t len = (size_t)(b->last - b->pos);

			if ((size_t)n < len) {
				b->pos += n;
				break;
			}
			b->pos = b->last;
			n -= (ssize_t)len;
			*chain = b->next;
		}
	}
	return PT_OK;
}

ssize_t
pt_conn_readv(struct pt_conn *c, struct iovec *iov, int cnt)
{
	ssize_t n, total = 0;
	int i;

	if (c->ssl != NULL) {
		/* fill the buffers in order; stop at the first short read */
		for (i = 0; i < cnt; i++) {
			n = pt_tls_recv(c, iov[i].iov_base, iov[i].iov_len);
			if (n <= 0)
				return total > 0 ? total : n;
			total += n;
			if ((size_t)n < iov[i].iov_len)
				break;
		}
		return total;
	}
	for (;;) {
		n = readv(c->io.fd, iov, cnt);
		if (n >= 0) {
			if (n == 0)
				c->eof = 1;
			return n;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->readable = 0;
			return PT_AGAIN;
		}
		c->error = 1;
		return PT_ERROR;
	}
}

void
pt_conn_local_addr(struct pt_conn *c)
{
	if (c->local_set)
		return;
	c->local.len = sizeof(c->local.sa);
	if (getsockname(c->io.fd, (struct sockaddr *)&c->local.sa, &c->local.len) == 0)
		pt_sockaddr_format(&c->local);
	c->local_set = 1;
}

void
pt_conn_set_idle(struct pt_conn *c, int idle)
{
	if (idle && !c->idle) {
		c->idle = 1;
		c->idle_prev = NULL;
		c->idle_next = pt_worker.idle_head;
		if (pt_worker.idle_head)
			pt_worker.idle_head->idle_prev = c;
		pt_worker.idle_head = c;
	} else if (!idle && c->idle) {
		c->idle = 0;
		if (c->idle_prev)
			c->idle_prev->idle_next = c->idle_next;
		else
			pt_worker.idle_head = c->idle_next;
		if (c->idle_next)
			c->idle_next->idle_prev = c->idle_prev;
		c->idle_next = c->idle_prev = NULL;
	}
}

size_t
pt_sockaddr_host(const struct pt_sockaddr *sa, char *buf, size_t n)
{
	const struct sockaddr *s = (const struct sockaddr *)&sa->sa;

	buf[0] = '\0';
	if (s->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)s)->sin_addr, buf,
		    (socklen_t)n);
	else if (s->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)s)->sin6_addr, buf,
		    (socklen_t)n);
	else if (s->sa_family == AF_UNIX)
		snprintf(buf, n, "unix:");
	return strlen(buf);
}

int
pt_sockaddr_port(const struct pt_sockaddr *sa)
{
	const struct sockaddr *s = (const struct sockaddr *)&sa->sa;

	if (s->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)s)->sin_port);
	if (s->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)s)->sin6_port);
	return 0;
}

void
pt_sockaddr_format(struct pt_sockaddr *sa)
{
	char host[INET6_ADDRSTRLEN];

	pt_sockaddr_host(sa, host, sizeof(host));
	if (sa->sa.ss_family == AF_INET6)
		snprintf(sa->text, sizeof(sa->text), "[%s]:%d", host, pt_sockaddr_port(sa));
	else
		snprintf(sa->text, sizeof(sa->text), "%s:%d", host, pt_sockaddr_port(sa));
}

int
pt_sockaddr_parse(const char *text, int def_port, struct pt_sockaddr *out, int max, int *n,
    const char **err)
{
	char host[256];
	const char *p, *port_s = NULL;
	long port = def_port;
	struct addrinfo hints, *res, *ai;
	int rc, all_digits = 1;

	*n = 0;
	for (p = text; *p; p++)
		if (*p < '0' || *p > '9')
			all_digits = 0;
	if (all_digits && *text) {
		/* "8080": all IPv4 addresses */
		snprintf(host, sizeof(host), "0.0.0.0");
		port_s = text;
	} else if (text[0] == '[') {
		p = strchr(text, ']');
		if (p == NULL || (size_t)(p - text - 1) >= sizeof(host)) {
			*err = "invalid IPv6 address";
			return PT_ERROR;
		}
		memcpy(host, text + 1, (size_t)(p - text - 1));
		host[p - text - 1] = '\0';
		if (p[1] == ':')
			port_s = p + 2;
		else if (p[1] != '\0') {
			*err = "invalid address";
			return PT_ERROR;
		}
	} else {
		p = strrchr(text, ':');
		if (p && strchr(text, ':') != p) {
			*err = "IPv6 addresses must be written in brackets";
			return PT_ERROR;
		}
		if (p) {
			port_s = p + 1;
			if ((size_t)(p - text) >= sizeof(host)) {
				*err = "host name too long";
				return PT_ERROR;
			}
			memcpy(host, text, (size_t)(p - text));
			host[p - text] = '\0';
		} else {
			if (strlen(text) >= sizeof(host)) {
				*err = "host name too long";
				return PT_ERROR;
			}
			snprintf(host, sizeof(host), "%s", text);
		}
		if (strcmp(host, "*") == 0)
			snprintf(host, sizeof(host), "0.0.0.0");
	}
	if (port_s != NULL && pt_parse_int(port_s, 1, 65535, &port) != PT_OK) {
		*err = "invalid port";
		return PT_ERROR;
	}
	if (port <= 0) {
		*err = "no port";
		return PT_ERROR;
	}
	if (host[0] == '\0') {
		*err = "no host";
		return PT_ERROR;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	{
		char ports[24];

		snprintf(ports, sizeof(ports), "%ld", port);
		rc = getaddrinfo(host, ports, &hints, &res);
	}
	if (rc != 0) {
		*err = gai_strerror(rc);
		return PT_ERROR;
	}
	for (ai = res; ai != NULL && *n < max; ai = ai->ai_next) {
		int i, dup = 0;

		if (ai->ai_addrlen > sizeof(out[0].sa))
			continue;
		for (i = 0; i < *n; i++)
			if (out[i].len == ai->ai_addrlen && memcmp(&out[i].sa, ai->ai_addr, ai->ai_addrlen) == 0)
				dup = 1;
		if (dup)
			continue;
		memset(&out[*n], 0, sizeof(out[*n]));
		memcpy(&out[*n].sa, ai->ai_addr, ai->ai_addrlen);
		out[*n].len = ai->ai_addrlen;
		pt_sockaddr_format(&out[*n]);
		(*n)++;
	}
	freeaddrinfo(res);
	if (*n == 0) {
		*err = "host not found";
		return PT_ERROR;
	}
	return PT_OK;
}
