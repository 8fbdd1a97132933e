/*
 * conn.h: a TCP connection owned by a worker, client or upstream side.
 * One close function with a reason (tbl/close_reasons.h).
 */
#ifndef PT_CONN_H
#define PT_CONN_H

#include <sys/uio.h>
#include "buf.h"
#include "cycle.h"
#include "event.h"
#include "pool.h"

#define PT_CONN_MAGIC	0x434f4e4eu

enum pt_close_reason {
#define PT_CLOSE(n, code)	PT_CLOSE_##n,
#include "tbl/close_reasons.h"
#undef PT_CLOSE
	PT_CLOSE_MAX
};
extern const char *const pt_close_codes[];

struct pt_conn;
typedef void (*pt_conn_fn)(struct pt_conn *c);

struct pt_conn {
	unsigned		 magic;		/* PT_CONN_MAGIC */
	struct pt_io		 io;		/* fd and epoll registration */
	struct pt_pool		*pool;		/* lives as long as the connection */
	pt_conn_fn		 on_read;	/* called when readable (ET: drain) */
	pt_conn_fn		 on_write;	/* called when writable */
	struct pt_timer		 timer;		/* the one timeout of the connection */
	void			*data;		/* protocol state (http conn, upstream) */
	struct pt_listener	*listener;	/* accepting listener, NULL upstream */
	struct pt_sockaddr	 peer;		/* remote address */
	struct pt_sockaddr	 local;		/* local address, filled lazily */
	uint64_t		 number;	/* $connection */
	size_t			 sent;		/* bytes written so far */
	unsigned		 readable:1;	/* epoll said readable, not yet EAGAIN */
	unsigned		 writable:1;	/* epoll said writable, not yet EAGAIN */
	unsigned		 eof:1;		/* read returned 0 */
	unsigned		 error:1;	/* a read/write failed */
	unsigned		 hup:1;		/* peer hung up (RDHUP/HUP) */
	unsigned		 local_set:1;	/* <local> filled */
	unsigned		 idle:1;	/* keep-alive idle, may be closed on shutdown */
	unsigned		 upstream:1;	/* connection to an upstream */
	unsigned		 tls_done:1;	/* TLS handshake finished on <ssl> */
	unsigned		 tls_read_on_out:1;/* a TLS read waits for writability */
	unsigned		 tls_write_on_in:1;/* a TLS write waits for readability */
	void			*ssl;		/* OpenSSL SSL *, NULL = plain TCP (tls_io.c) */
	struct pt_conn		*idle_next;	/* worker's idle list (drain on shutdown) */
	struct pt_conn		*idle_prev;
};

/* worker state visible to protocol code */
struct pt_worker_state {
	struct pt_cycle		*cycle;		/* running generation */
	unsigned		 nconns;	/* open connections (clients + upstreams) */
	unsigned		 max_conns;	/* worker_connections */
	int			 exiting;	/* graceful shutdown in progress */
	int			 terminate;	/* fast shutdown */
	uint64_t		 conn_number;	/* last $connection */
	struct pt_conn		*idle_head;	/* keep-alive idle clients */
};
extern struct pt_worker_state pt_worker;

/*
 * Wrap accepted or connected socket <fd> (non-blocking) in a connection
 * with its own pool; registers it in the loop. NULL at worker_connections.
 */
struct pt_conn	*pt_conn_new(int fd, const struct pt_sockaddr *peer);
/* close <c>: unregister, close the fd, destroy its pool (frees <c>) */
void		 pt_conn_close(struct pt_conn *c, enum pt_close_reason why);
/*
 * Read into [b->last, b->end). Returns bytes read (> 0), 0 on EOF,
 * PT_AGAIN (readable cleared) or PT_ERROR (errno logged at info).
 */
ssize_t		 pt_conn_recv(struct pt_conn *c, struct pt_buf *b);
/*
 * writev() the chain starting at <*chain>, advancing each buffer's pos;
 * fully written buffers are unlinked (their <next> left as is) and
 * <*chain> moves past them. Returns PT_OK when everything was written,
 * PT_AGAIN (writable cleared) or PT_ERROR.
 */
int		 pt_conn_send_chain(struct pt_conn *c, struct pt_buf **chain);
/*
 * readv() into <iov>: bytes read (> 0), 0 on EOF, PT_AGAIN (readable
 * cleared) or PT_ERROR (errno set). TLS connections read record by record.
 */
ssize_t		 pt_conn_readv(struct pt_conn *c, struct iovec *iov, int cnt);

/*
 * TLS I/O layer (worker/tls_io.c), used by the functions above when
 * c->ssl is set; the TLS module creates the SSL objects. Same return
 * conventions as pt_conn_recv / pt_conn_send_chain.
 */
ssize_t		 pt_tls_recv(struct pt_conn *c, char *buf, size_t len);
int		 pt_tls_send_chain(struct pt_conn *c, struct pt_buf **chain);
/* one step of the handshake: PT_OK (done), PT_AGAIN or PT_ERROR (logged at info) */
int		 pt_tls_handshake(struct pt_conn *c);
/* send close_notify when the session is in a clean state, free the SSL */
void		 pt_tls_close(struct pt_conn *c, enum pt_close_reason why);

/* fill c->local (getsockname) once */
void		 pt_conn_local_addr(struct pt_conn *c);
/* mark <c> idle (keep-alive) / busy for graceful shutdown */
void		 pt_conn_set_idle(struct pt_conn *c, int idle);

/* format a socket address as "1.2.3.4:80" / "[::1]:80" into <sa>->text */
void		 pt_sockaddr_format(struct pt_sockaddr *sa);
/* address text without the port into <buf> (>= 48 bytes); returns length */
size_t		 pt_sockaddr_host(const struct pt_sockaddr *sa, char *buf, size_t n);
int		 pt_sockaddr_port(const struct pt_sockaddr *sa);
/*
 * Parse "host:port", "[v6]:port", "port" or "host" (port <def_port>) for
 * binding/connecting. Host names are resolved (blocking: config time
 * only). Returns PT_OK and fills up to <max> addresses, setting *n.
 */
int		 pt_sockaddr_parse(const char *text, int def_port, struct pt_sockaddr *out,
		    int max, int *n, const char **err);

#endif /* PT_CONN_H */
