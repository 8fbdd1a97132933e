/*
 * tls_io.c: reading and writing a connection through OpenSSL. The TLS
 * module (modules/tls/) creates c->ssl on accept or connect; from then on
 * pt_conn_recv / pt_conn_send_chain / pt_conn_readv come here.
 *
 * Edge-triggered contract: c->readable is cleared only when OpenSSL
 * reports WANT_READ (the socket said EAGAIN and no decrypted byte is
 * buffered), c->writable only on WANT_WRITE, exactly as the plain paths
 * do on EAGAIN. Contexts read ahead (one read() takes what the socket
 * has, not a record header and then its body), so bytes can sit in
 * OpenSSL rather than in the socket: a finished handshake with some
 * pending sets c->readable itself.
 *
 * Cross-direction waits (renegotiation is off, so only around a TLS 1.3
 * KeyUpdate): a read that must write first clears c->readable and
 * c->writable and sets c->tls_read_on_out, so the next EPOLLOUT calls
 * on_read (conn.c); a write that must read first clears both and sets
 * c->tls_write_on_in, so the next EPOLLIN calls on_write. Either side
 * keeps waiting on its own flag meanwhile, with no busy loop.
 *
 * Writes: the chain is copied into a per-worker 16 KiB record buffer
 * (one TLS record for a whole small response instead of one per
 * buffer); a memory buffer of 16 KiB or more is written from place.
 * File buffers (in_file: sendfile(2) is no use under TLS) are read with
 * pread(2) into the same record buffer, 16 KiB at a time, so memory
 * stays bounded whatever the file size. Contexts set
 * SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER,
 * and a retried write never presents fewer bytes than the one before
 * (the chain only grows until bytes are consumed, a file's bytes are
 * read again from the same offset), as OpenSSL requires.
 */
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "portico.h"

#define TLS_RECORD	16384

static char	tls_wbuf[TLS_RECORD];

/* log the OpenSSL error queue after <what> failed on <c>, then clear it */
static void
tls_log_error(struct pt_conn *c, int level, int sslerr, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256];

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	else if (sslerr == SSL_ERROR_SYSCALL)
		snprintf(buf, sizeof(buf), "%s", errno != 0 ? strerror(errno) : "unexpected eof");
	else
		snprintf(buf, sizeof(buf), "error %d", sslerr);
	pt_log(level, 0, "%s failed (%s) on %s", what, buf, c->peer.text);
	ERR_clear_error();
}

ssize_t
pt_tls_recv(struct pt_conn *c, char *buf, size_t len)
{
	int n, err;

	if (len == 0)
		return PT_AGAIN;
	ERR_clear_error();
	errno = 0;
	n = SSL_read(c->ssl, buf, (int)PT_MIN(len, (size_t)INT32_MAX));
	if (n > 0)
		return n;
	err = SSL_get_error(c->ssl, n);
	switch (err) {
	case SSL_ERROR_WANT_READ:
		c->readable = 0;
		return PT_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		/* resumed by the next EPOLLOUT (conn.c) */
		c->readable = 0;
		c->writable = 0;
		c->tls_read_on_out = 1;
		return PT_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		/* close_notify */
		c->eof = 1;
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0 && errno == 0) {
			/* TCP FIN without close_notify: an EOF for HTTP framing */
			c->eof = 1;
			return 0;
		}
		break;
	case SSL_ERROR_SSL:
		/* OpenSSL 3 reports a bare FIN as this */
		if (ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			c->eof = 1;
			return 0;
		}
		break;
	}
	c->error = 1;
	tls_log_error(c, PT_LOG_INFO, err, "SSL_read()");
	return PT_ERROR;
}

/*
 * Fill the record buffer from <b> onwards: memory is copied, file
 * buffers are read with pread(2). Returns the byte count, or -1 with
 * the error logged (a file that is shorter than its buffer says).
 */
static ssize_t
tls_gather(struct pt_conn *c, struct pt_buf *b)
{
	size_t len = 0;

	for (; b != NULL && len < TLS_RECORD; b = b->next) {
		size_t take = PT_MIN(pt_buf_left(b), TLS_RECORD - len);
		ssize_t got;

		if (take == 0)
			continue;
		if (!b->in_file) {
			memcpy(tls_wbuf + len, b->pos, take);
			len += take;
			continue;
		}
		do
			got = pread(b->file_fd, tls_wbuf + len, take, (off_t)b->file_pos);
		while (got == -1 && errno == EINTR);
		if (got <= 0) {
			c->error = 1;
			pt_log(PT_LOG_ERR, got == 0 ? 0 : errno, "pread() of a file being sent to %s "
			    "failed%s", c->peer.text, got == 0 ? ": the file was truncated" : "");
			return -1;
		}
		len += (size_t)got;
		if ((size_t)got < take)
			break;		/* short read: send what came, ask again */
	}
	return (ssize_t)len;
}

int
pt_tls_send_chain(struct pt_conn *c, struct pt_buf **chain)
{
	struct pt_buf *b;
	const char *data;
	size_t len;
	ssize_t got;
	int n, err;

	for (;;) {
		while (*chain != NULL && pt_buf_left(*chain) == 0)
			*chain = (*chain)->next;
		if (*chain == NULL)
			return PT_OK;
		b = *chain;
		if (!b->in_file && pt_buf_size(b) >= TLS_RECORD) {
			data = b->pos;
			len = TLS_RECORD;
		} else {
			if ((got = tls_gather(c, b)) < 0)
				return PT_ERROR;
			data = tls_wbuf;
			len = (size_t)got;
		}
		ERR_clear_error();
		n = SSL_write(c->ssl, data, (int)len);
		if (n <= 0) {
			err = SSL_get_error(c->ssl, n);
			if (err == SSL_ERROR_WANT_WRITE) {
				c->writable = 0;
				return PT_AGAIN;
			}
			if (err == SSL_ERROR_WANT_READ) {
				/* resumed by the next EPOLLIN (conn.c) */
				c->writable = 0;
				c->readable = 0;
				c->tls_write_on_in = 1;
				return PT_AGAIN;
			}
			c->error = 1;
			tls_log_error(c, PT_LOG_INFO, err, "SSL_write()");
			return PT_ERROR;
		}
		c->sent += (size_t)n;
		for (b = *chain; b != NULL && n > 0; b = b->next) {
			size_t have = pt_buf_left(b);

			if ((size_t)n < have) {
				if (b->in_file)
					b->file_pos += n;
				else
					b->pos += n;
				break;
			}
			if (b->in_file)
				b->file_pos = b->file_last;
			else
				b->pos = b->last;
			n -= (int)have;
			*chain = b->next;
		}
	}
}

int
pt_tls_handshake(struct pt_conn *c)
{
	int n, err;

	ERR_clear_error();
	errno = 0;
	n = SSL_do_handshake(c->ssl);
	if (n == 1) {
		c->tls_done = 1;
		/*
		 * Contexts read ahead: bytes that came with the peer's last
		 * flight (a request right behind the Finished) may already be
		 * out of the socket, so no edge will announce them.
		 */
		if (SSL_has_pending(c->ssl))
			c->readable = 1;
		return PT_OK;
	}
	err = SSL_get_error(c->ssl, n);
	if (err == SSL_ERROR_WANT_READ) {
		c->readable = 0;
		return PT_AGAIN;
	}
	if (err == SSL_ERROR_WANT_WRITE) {
		c->writable = 0;
		return PT_AGAIN;
	}
	c->error = 1;
	if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0) {
		pt_log(PT_LOG_INFO, 0, "peer closed connection in SSL handshake on %s", c->peer.text);
		return PT_ERROR;
	}
	tls_log_error(c, PT_LOG_INFO, err, "SSL_do_handshake()");
	return PT_ERROR;
}

void
pt_tls_close(struct pt_conn *c, enum pt_close_reason why)
{
	SSL *ssl = c->ssl;

	c->ssl = NULL;
	/*
	 * close_notify after a complete handshake when the socket is sane;
	 * one non-blocking attempt, the answer is not awaited.
	 */
	if (c->tls_done && !c->error && why != PT_CLOSE_CLIENT_TIMEOUT &&
	    why != PT_CLOSE_CLIENT_ERROR && c->io.fd >= 0) {
		ERR_clear_error();
		SSL_set_quiet_shutdown(ssl, 0);
		(void)SSL_shutdown(ssl);
	}
	ERR_clear_error();
	SSL_free(ssl);
}
