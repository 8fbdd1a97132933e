/*
 * tls_module.c: the TLS module at run time (worker). An ssl listener
 * hands each accepted connection to tls_accept(): the handshake runs on
 * the event loop, bounded by ssl_handshake_timeout, and then the
 * connection goes to HTTP as a plain one would. SNI picks the server
 * block (and so its certificates) with the same name rules as Host; the
 * request's Host still picks the server of each request. Sessions are
 * cached in a shared zone and tickets are sealed with keys every worker
 * shares. Client certificates are checked in the POST_READ phase so a
 * failure is a 400 response, not a dropped handshake.
 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "tls.h"

/* the connection an SSL belongs to */
#define tls_conn(ssl)	((struct pt_conn *)SSL_get_app_data(ssl))

static struct tls_srv *
tls_srv_conf(struct pt_http_srv *s)
{
	return s->srv_conf[pt_mod_tls.index];
}

static struct tls_srv *
tls_default_srv(struct pt_conn *c)
{
	return tls_srv_conf(((struct pt_http_addr_servers *)c->listener->servers)->default_server);
}

/*---- handshake ----*/

static void
tls_handshake_timeout(struct pt_timer *t)
{
	struct pt_conn *c = t->data;

	pt_log(PT_LOG_INFO, 0, "client timed out in SSL handshake on %s", c->peer.text);
	pt_conn_close(c, PT_CLOSE_CLIENT_TIMEOUT);
}

static void
tls_handshake_step(struct pt_conn *c)
{
	int rc = pt_tls_handshake(c);

	if (rc == PT_AGAIN)
		return;
	if (rc != PT_OK) {
		pt_conn_close(c, PT_CLOSE_CLIENT_ERROR);
		return;
	}
	pt_timer_del(&c->timer);
	c->timer.data = c;
	pt_http_init_conn(c);
	/* the request may have come with the last handshake flight */
	if (c->readable && c->on_read != NULL)
		c->on_read(c);
}

/*
 * A write event while the handshake waits for the client's bytes (the
 * first EPOLLOUT after accept, most often) has nothing to do: calling
 * OpenSSL would only cost a read() that says EAGAIN.
 */
static void
tls_handshake_write(struct pt_conn *c)
{
	if (c->readable)
		tls_handshake_step(c);
}

void
tls_accept(struct pt_conn *c)
{
	struct tls_srv *ts = tls_default_srv(c);
	SSL *ssl;

	ssl = SSL_new(ts->ctx);
	if (ssl == NULL || SSL_set_fd(ssl, c->io.fd) != 1) {
		pt_log(PT_LOG_ALERT, 0, "SSL_new() failed on %s", c->peer.text);
		SSL_free(ssl);
		ERR_clear_error();
		pt_conn_close(c, PT_CLOSE_INTERNAL);
		return;
	}
	SSL_set_app_data(ssl, c);
	SSL_set_accept_state(ssl);
	c->ssl = ssl;
	c->on_read = tls_handshake_step;
	c->on_write = tls_handshake_write;
	c->timer.handler = tls_handshake_timeout;
	c->timer.data = c;
	pt_timer_set(&c->timer, ts->handshake_timeout);
	tls_handshake_step(c);
}

/* SNI: switch to the context of the server the name selects */
int
tls_servername_cb(SSL *ssl, int *ad, void *arg)
{
	struct pt_conn *c = tls_conn(ssl);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	struct pt_http_addr_servers *as;
	struct pt_http_srv *s;
	struct tls_srv *ts;
	char lc[256];
	size_t i, len;

	(void)arg;
	if (c == NULL || c->listener == NULL)
		return SSL_TLSEXT_ERR_OK;
	as = c->listener->servers;
	if (name == NULL || (len = strlen(name)) == 0 || len >= sizeof(lc)) {
		s = as->default_server;
	} else {
		for (i = 0; i < len; i++)
			lc[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] | 0x20 : name[i]);
		lc[len] = '\0';
		s = pt_http_find_server(as, (struct pt_str){ len, lc });
	}
	ts = tls_srv_conf(s);
	if (ts->reject_handshake || ts->ctx == NULL) {
		*ad = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	if (ts->ctx != SSL_get_SSL_CTX(ssl)) {
		SSL_set_SSL_CTX(ssl, ts->ctx);
		/* what SSL_set_SSL_CTX does not carry over */
		SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ts->ctx), SSL_CTX_get_verify_callback(ts->ctx));
		SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(ts->ctx));
		SSL_clear_options(ssl, SSL_get_options(ssl) & ~SSL_CTX_get_options(ts->ctx));
		SSL_set_options(ssl, SSL_CTX_get_options(ts->ctx));
		SSL_set_client_CA_list(ssl, SSL_dup_CA_list(SSL_CTX_get_client_CA_list(ts->ctx)));
	}
	return SSL_TLSEXT_ERR_OK;
}

/* ALPN: http/1.1; "h2" joins here with the HTTP/2 work */
int
tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char protos[] = "\x08http/1.1";
	unsigned char *sel;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, protos, sizeof(protos) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* client certificates are judged per request (400), never mid-handshake */
int
tls_verify_cb(int ok, X509_STORE_CTX *store)
{
	(void)ok;
	(void)store;
	return 1;
}

/* OCSP stapling from ssl_stapling_file */
int
tls_status_cb(SSL *ssl, void *arg)
{
	struct tls_srv *ts = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tls_ctx_index);
	unsigned char *copy;

	(void)arg;
	if (ts == NULL || ts->staple == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	copy = OPENSSL_malloc((size_t)ts->staple_len);
	if (copy == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	memcpy(copy, ts->staple, (size_t)ts->staple_len);
	SSL_set_tlsext_status_ocsp_resp(ssl, copy, ts->staple_len);
	return SSL_TLSEXT_ERR_OK;
}

/*---- shared session cache ----*/

static unsigned
tls_hash(const unsigned char *id, unsigned len)
{
	unsigned h = 2166136261u, i;

	for (i = 0; i < len; i++)
		h = (h ^ id[i]) * 16777619u;
	return h % TLS_CACHE_BUCKETS;
}

/* the cache of the connection's first context (sessions are looked up there) */
static struct pt_zone *
tls_cache_zone(SSL *ssl)
{
	struct pt_conn *c = tls_conn(ssl);

	if (c == NULL || c->listener == NULL)
		return NULL;
	return tls_default_srv(c)->cache_zone;
}

static void
tls_cache_unlink(struct tls_cache *cache, struct tls_sess *s)
{
	struct tls_sess **pp = &cache->buckets[tls_hash(s->id, s->id_len)];

	while (*pp != NULL && *pp != s)
		pp = &(*pp)->hnext;
	if (*pp == s)
		*pp = s->hnext;
	s->prev->next = s->next;
	s->next->prev = s->prev;
}

static struct tls_sess *
tls_cache_find(struct tls_cache *cache, const unsigned char *id, unsigned len)
{
	struct tls_sess *s;

	for (s = cache->buckets[tls_hash(id, len)]; s != NULL; s = s->hnext)
		if (s->id_len == len && memcmp(s->id, id, len) == 0)
			return s;
	return NULL;
}

int
tls_new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct pt_zone *z = tls_cache_zone(ssl);
	struct tls_cache *cache;
	struct tls_sess *s;
	unsigned char der[4096], *p = der;
	const unsigned char *id;
	unsigned id_len;
	int len, tries;

	if (z == NULL || z->data == NULL)
		return 0;
	cache = z->data;
	len = i2d_SSL_SESSION(sess, NULL);
	if (len <= 0 || len > (int)sizeof(der))
		return 0;
	i2d_SSL_SESSION(sess, &p);
	id = SSL_SESSION_get_id(sess, &id_len);
	if (id_len == 0 || id_len > SSL_MAX_SSL_SESSION_ID_LENGTH)
		return 0;
	pt_shm_lock(z->shm);
	if ((s = tls_cache_find(cache, id, id_len)) != NULL) {
		tls_cache_unlink(cache, s);
		pt_slab_free_locked(z->shm, s);
	}
	for (tries = 0; ; tries++) {
		s = pt_slab_alloc_locked(z->shm, sizeof(*s) + (size_t)len);
		if (s != NULL || tries == 8 || cache->lru.prev == &cache->lru)
			break;
		/* full: drop the least recently used */
		{
			struct tls_sess *old = cache->lru.prev;

			tls_cache_unlink(cache, old);
			pt_slab_free_locked(z->shm, old);
			cache->evictions++;
		}
	}
	if (s != NULL) {
		s->expire = pt_current_sec + (time_t)SSL_SESSION_get_timeout(sess);
		s->id_len = id_len;
		memcpy(s->id, id, id_len);
		s->len = (unsigned)len;
		memcpy(s->der, der, (size_t)len);
		s->hnext = cache->buckets[tls_hash(id, id_len)];
		cache->buckets[tls_hash(id, id_len)] = s;
		s->next = cache->lru.next;
		s->prev = &cache->lru;
		cache->lru.next->prev = s;
		cache->lru.next = s;
		cache->stores++;
	}
	pt_shm_unlock(z->shm);
	return 0;	/* we keep no reference to <sess> */
}

SSL_SESSION *
tls_get_session_cb(SSL *ssl, const unsigned char *id, int len, int *copy)
{
	struct pt_zone *z = tls_cache_zone(ssl);
	struct tls_cache *cache;
	struct tls_sess *s;
	unsigned char der[4096];
	const unsigned char *p = der;
	int n = 0;

	*copy = 0;
	if (z == NULL || z->data == NULL || len <= 0)
		return NULL;
	cache = z->data;
	pt_shm_lock(z->shm);
	s = tls_cache_find(cache, id, (unsigned)len);
	if (s != NULL && s->expire < pt_current_sec) {
		tls_cache_unlink(cache, s);
		pt_slab_free_locked(z->shm, s);
		s = NULL;
	}
	if (s != NULL && s->len <= sizeof(der)) {
		n = (int)s->len;
		memcpy(der, s->der, s->len);
		cache->hits++;
	} else {
		cache->misses++;
	}
	pt_shm_unlock(z->shm);
	return n > 0 ? d2i_SSL_SESSION(NULL, &p, n) : NULL;
}

void
tls_remove_session_cb(SSL_CTX *ctx, SSL_SESSION *sess)
{
	struct tls_srv *ts = SSL_CTX_get_ex_data(ctx, tls_ctx_index);
	struct pt_zone *z = ts != NULL ? ts->cache_zone : NULL;
	struct tls_sess *s;
	const unsigned char *id;
	unsigned id_len;

	if (z == NULL || z->data == NULL)
		return;
	id = SSL_SESSION_get_id(sess, &id_len);
	pt_shm_lock(z->shm);
	s = tls_cache_find(z->data, id, id_len);
	if (s != NULL) {
		tls_cache_unlink(z->data, s);
		pt_slab_free_locked(z->shm, s);
	}
	pt_shm_unlock(z->shm);
}

/*---- session tickets ----*/

static void
tls_key_generate(struct tls_ticket_key *k)
{
	(void)RAND_bytes(k->name, sizeof(k->name));
	(void)RAND_bytes(k->hmac, sizeof(k->hmac));
	(void)RAND_bytes(k->aes, sizeof(k->aes));
	k->hmac_len = 32;
	k->aes256 = 1;
}

/*
 * The automatic keys: the first process to see the current key older
 * than ssl_session_timeout makes a new one and keeps the previous for
 * decryption, so a ticket stays valid for one to two timeouts.
 * Copies the keys into <out>; returns how many.
 */
static int
tls_auto_keys(struct tls_srv *ts, struct tls_ticket_key *out)
{
	struct pt_zone *z = ts->ticket_zone;
	struct tls_ticket_zone *tz;
	time_t period = (time_t)PT_MAX(ts->session_timeout / 1000, (pt_msec_t)1);
	int n;

	if (z == NULL || z->data == NULL)
		return 0;
	tz = z->data;
	pt_shm_lock(z->shm);
	if (tz->nkeys == 0 || tz->rotated + period <= pt_current_sec) {
		tz->keys[1] = tz->keys[0];
		tls_key_generate(&tz->keys[0]);
		tz->nkeys = tz->nkeys == 0 ? 1 : 2;
		tz->rotated = pt_current_sec;
	}
	n = tz->nkeys;
	memcpy(out, tz->keys, sizeof(tz->keys[0]) * (size_t)n);
	pt_shm_unlock(z->shm);
	return n;
}

static int
tls_ticket_init(struct tls_ticket_key *k, unsigned char *iv, EVP_CIPHER_CTX *ectx,
    EVP_MAC_CTX *hctx, int enc)
{
	OSSL_PARAM params[2];
	const EVP_CIPHER *cipher = k->aes256 ? EVP_aes_256_cbc() : EVP_aes_128_cbc();

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(hctx, params) != 1 ||
	    EVP_MAC_init(hctx, k->hmac, k->hmac_len, NULL) != 1)
		return -1;
	if (enc) {
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(cipher)) != 1 ||
		    EVP_EncryptInit_ex(ectx, cipher, NULL, k->aes, iv) != 1)
			return -1;
	} else if (EVP_DecryptInit_ex(ectx, cipher, NULL, k->aes, iv) != 1) {
		return -1;
	}
	return 1;
}

int
tls_ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *ectx,
    EVP_MAC_CTX *hctx, int enc)
{
	struct pt_conn *c = tls_conn(ssl);
	struct tls_ticket_key autok[2], *keys;
	struct tls_srv *ts;
	int n, i;

	if (c == NULL || c->listener == NULL)
		return -1;
	ts = tls_default_srv(c);
	if (ts->nticket_keys > 0) {
		keys = ts->ticket_keys;
		n = ts->nticket_keys;
	} else {
		keys = autok;
		n = tls_auto_keys(ts, autok);
		if (n == 0)
			return -1;
	}
	if (enc) {
		memcpy(name, keys[0].name, 16);
		n = tls_ticket_init(&keys[0], iv, ectx, hctx, 1);
		OPENSSL_cleanse(autok, sizeof(autok));
		return n;
	}
	for (i = 0; i < n; i++) {
		if (memcmp(name, keys[i].name, 16) == 0) {
			int rc = tls_ticket_init(&keys[i], iv, ectx, hctx, 0);

			OPENSSL_cleanse(autok, sizeof(autok));
			/*
			 * 2: valid, and a new ticket is issued: under the current
			 * key, and always with TLS 1.3, whose tickets are single
			 * use (RFC 8446 C.4; OpenSSL clients will not offer one
			 * twice), so a client that resumes can resume again
			 */
			return rc == 1 && (i > 0 || SSL_version(ssl) == TLS1_3_VERSION) ? 2 : rc;
		}
	}
	OPENSSL_cleanse(autok, sizeof(autok));
	return 0;	/* unknown key: full handshake */
}

/*---- client certificates ----*/

static int
tls_verify_handler(struct pt_request *r)
{
	SSL *ssl = r->c->ssl;
	struct tls_srv *ts;
	X509 *cert;
	long res;

	if (ssl == NULL)
		return PT_DECLINED;
	ts = pt_http_srv_conf(r, &pt_mod_tls);
	if (ts->verify_client == TLS_VERIFY_OFF)
		return PT_DECLINED;
	res = SSL_get_verify_result(ssl);
	if (res != X509_V_OK && (ts->verify_client != TLS_VERIFY_OPTIONAL_NO_CA ||
	    !(res == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
	    res == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
	    res == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
	    res == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    res == X509_V_ERR_CERT_UNTRUSTED ||
	    res == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE))) {
		pt_log(PT_LOG_INFO, 0, "client SSL certificate verify error: (%ld:%s) while reading "
		    "client request headers, client: %s", res, X509_verify_cert_error_string(res),
		    r->c->peer.text);
		r->keepalive = 0;
		return 400;
	}
	if (ts->verify_client == TLS_VERIFY_ON) {
		cert = SSL_get1_peer_certificate(ssl);
		if (cert == NULL) {
			pt_log(PT_LOG_INFO, 0, "client sent no required SSL certificate while reading "
			    "client request headers, client: %s", r->c->peer.text);
			r->keepalive = 0;
			return 400;
		}
		X509_free(cert);
	}
	return PT_DECLINED;
}

/*---- variables ----*/

static int
tls_var_protocol(struct pt_request *r, void *data, struct pt_str *out)
{
	(void)data;
	if (r->c->ssl == NULL)
		return PT_DECLINED;
	out->data = SSL_get_version(r->c->ssl);
	out->len = strlen(out->data);
	return PT_OK;
}

static int
tls_var_cipher(struct pt_request *r, void *data, struct pt_str *out)
{
	(void)data;
	if (r->c->ssl == NULL)
		return PT_DECLINED;
	out->data = SSL_get_cipher_name(r->c->ssl);
	out->len = strlen(out->data);
	return PT_OK;
}

static int
tls_var_server_name(struct pt_request *r, void *data, struct pt_str *out)
{
	const char *n;

	(void)data;
	if (r->c->ssl == NULL || (n = SSL_get_servername(r->c->ssl, TLSEXT_NAMETYPE_host_name)) == NULL)
		return PT_DECLINED;
	out->data = n;
	out->len = strlen(n);
	return PT_OK;
}

static int
tls_var_session_reused(struct pt_request *r, void *data, struct pt_str *out)
{
	(void)data;
	*out = r->c->ssl != NULL && SSL_session_reused(r->c->ssl) ? PT_STR("r") : PT_STR(".");
	return PT_OK;
}

static int
tls_var_client_verify(struct pt_request *r, void *data, struct pt_str *out)
{
	X509 *cert;
	long res;

	(void)data;
	if (r->c->ssl == NULL)
		return PT_DECLINED;
	cert = SSL_get1_peer_certificate(r->c->ssl);
	if (cert == NULL) {
		*out = PT_STR("NONE");
		return PT_OK;
	}
	X509_free(cert);
	res = SSL_get_verify_result(r->c->ssl);
	if (res == X509_V_OK) {
		*out = PT_STR("SUCCESS");
		return PT_OK;
	}
	out->data = pt_psprintf(r->pool, "FAILED:%s", X509_verify_cert_error_string(res));
	out->len = strlen(out->data);
	return PT_OK;
}

/* copy a memory BIO's bytes into the request pool */
static void
tls_bio_str(struct pt_request *r, BIO *bio, struct pt_str *out)
{
	char *p;
	long n = BIO_get_mem_data(bio, &p);

	out->data = pt_pstrndup(r->pool, p, (size_t)n);
	out->len = (size_t)n;
}

static int
tls_var_client_s_dn(struct pt_request *r, void *data, struct pt_str *out)
{
	X509 *cert;
	BIO *bio;

	(void)data;
	if (r->c->ssl == NULL || (cert = SSL_get1_peer_certificate(r->c->ssl)) == NULL)
		return PT_DECLINED;
	bio = BIO_new(BIO_s_mem());
	X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
	tls_bio_str(r, bio, out);
	BIO_free(bio);
	X509_free(cert);
	return PT_OK;
}

static int
tls_var_client_fingerprint(struct pt_request *r, void *data, struct pt_str *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n, i;
	X509 *cert;
	char *p;

	(void)data;
	if (r->c->ssl == NULL || (cert = SSL_get1_peer_certificate(r->c->ssl)) == NULL)
		return PT_DECLINED;
	if (X509_digest(cert, EVP_sha1(), md, &n) != 1) {
		X509_free(cert);
		return PT_DECLINED;
	}
	X509_free(cert);
	p = pt_palloc(r->pool, 2 * n);
	for (i = 0; i < n; i++) {
		p[2 * i] = hex[md[i] >> 4];
		p[2 * i + 1] = hex[md[i] & 15];
	}
	out->data = p;
	out->len = 2 * n;
	return PT_OK;
}

static int
tls_var_client_escaped_cert(struct pt_request *r, void *data, struct pt_str *out)
{
	static const char hex[] = "0123456789ABCDEF";
	struct pt_str pem;
	X509 *cert;
	BIO *bio;
	char *p;
	size_t i;

	(void)data;
	if (r->c->ssl == NULL || (cert = SSL_get1_peer_certificate(r->c->ssl)) == NULL)
		return PT_DECLINED;
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(bio, cert);
	tls_bio_str(r, bio, &pem);
	BIO_free(bio);
	X509_free(cert);
	p = pt_palloc(r->pool, 3 * pem.len + 1);
	out->data = p;
	for (i = 0; i < pem.len; i++) {
		unsigned char ch = (unsigned char)pem.data[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			*p++ = (char)ch;
		} else {
			*p++ = '%';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 15];
		}
	}
	out->len = (size_t)(p - out->data);
	return PT_OK;
}

static const struct pt_var_def tls_variables[] = {
	{ "ssl_protocol",		0, tls_var_protocol,		NULL },
	{ "ssl_cipher",			0, tls_var_cipher,		NULL },
	{ "ssl_server_name",		0, tls_var_server_name,		NULL },
	{ "ssl_session_reused",		0, tls_var_session_reused,	NULL },
	{ "ssl_client_verify",		0, tls_var_client_verify,	NULL },
	{ "ssl_client_s_dn",		0, tls_var_client_s_dn,		NULL },
	{ "ssl_client_fingerprint",	0, tls_var_client_fingerprint,	NULL },
	{ "ssl_client_escaped_cert",	0, tls_var_client_escaped_cert,	NULL },
	PT_VAR_DEF_END
};

/*---- TLS to upstreams ----*/

int
pt_tls_upstream_enabled(struct pt_request *r)
{
	return ((struct tls_loc *)pt_http_loc_conf(r, &pt_mod_tls))->ctx != NULL;
}

int
pt_tls_upstream_start(struct pt_conn *uc, struct pt_request *r, struct pt_str host)
{
	struct tls_loc *tl = pt_http_loc_conf(r, &pt_mod_tls);
	char name[256];
	SSL *ssl;
	size_t len;

	ssl = SSL_new(tl->ctx);
	if (ssl == NULL || SSL_set_fd(ssl, uc->io.fd) != 1) {
		SSL_free(ssl);
		ERR_clear_error();
		pt_log(PT_LOG_ALERT, 0, "SSL_new() failed for upstream %s", uc->peer.text);
		return PT_ERROR;
	}
	SSL_set_app_data(ssl, uc);
	SSL_set_ex_data(ssl, tls_ssl_loc_index, tl);
	SSL_set_connect_state(ssl);
	if (tl->name != NULL) {
		snprintf(name, sizeof(name), "%s", tl->name);
	} else {
		/* the proxy_pass host without its port */
		const char *colon;

		len = PT_MIN(host.len, sizeof(name) - 1);
		memcpy(name, host.data, len);
		name[len] = '\0';
		if (name[0] == '[') {
			char *rb = strchr(name, ']');

			if (rb != NULL)
				*rb = '\0';
			memmove(name, name + 1, strlen(name));
		} else if ((colon = strrchr(name, ':')) != NULL) {
			name[colon - name] = '\0';
		}
	}
	if (tl->server_name && name[0] != '\0' && strspn(name, "0123456789.:") != strlen(name))
		SSL_set_tlsext_host_name(ssl, name);
	if (tl->verify && name[0] != '\0') {
		X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);

		X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (strspn(name, "0123456789.:abcdefABCDEF") == strlen(name) && strchr(name, '.') == NULL
		    && strchr(name, ':') != NULL)
			X509_VERIFY_PARAM_set1_ip_asc(vp, name);
		else if (strspn(name, "0123456789.") == strlen(name))
			X509_VERIFY_PARAM_set1_ip_asc(vp, name);
		else
			SSL_set1_host(ssl, name);
	}
	if (tl->session_reuse && tl->session != NULL) {
		if (SSL_SESSION_is_resumable(tl->session))
			SSL_set_session(ssl, tl->session);
		if (SSL_SESSION_get_protocol_version(tl->session) == TLS1_3_VERSION) {
			/* single use: the connection's own ticket replaces it */
			SSL_SESSION_free(tl->session);
			tl->session = NULL;
		}
	}
	uc->ssl = ssl;
	return PT_OK;
}

int
pt_tls_upstream_verify(struct pt_conn *uc, struct pt_request *r)
{
	struct tls_loc *tl = pt_http_loc_conf(r, &pt_mod_tls);
	SSL *ssl = uc->ssl;
	X509 *cert;
	long res;

	if (tl->verify) {
		cert = SSL_get1_peer_certificate(ssl);
		if (cert == NULL) {
			pt_log(PT_LOG_ERR, 0, "upstream SSL certificate verify error: no certificate "
			    "while SSL handshaking to upstream %s", uc->peer.text);
			return PT_ERROR;
		}
		X509_free(cert);
		res = SSL_get_verify_result(ssl);
		if (res != X509_V_OK) {
			pt_log(PT_LOG_ERR, 0, "upstream SSL certificate verify error: (%ld:%s) while SSL "
			    "handshaking to upstream %s", res, X509_verify_cert_error_string(res),
			    uc->peer.text);
			return PT_ERROR;
		}
	}
	return PT_OK;
}

/*
 * A resumable session from an upstream (with TLS 1.3 it comes after the
 * handshake): keep it as the location's latest. Returns 1: referenced.
 */
int
tls_client_new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_loc *tl = SSL_get_ex_data(ssl, tls_ssl_loc_index);

	if (tl == NULL || !tl->session_reuse)
		return 0;
	if (tl->session != NULL)
		SSL_SESSION_free(tl->session);
	tl->session = sess;
	return 1;
}

/*---- module ----*/

static int
tls_postconfig(struct pt_cycle *cycle)
{
	if (tls_conf_postconfig(cycle) != PT_OK)
		return PT_ERROR;
	if (cycle->http == NULL)
		return PT_OK;
	return pt_phase_add(cycle, PT_PHASE_POST_READ, 50, tls_verify_handler);
}

struct pt_module pt_mod_tls = {
	.name = "tls",
	.directives = tls_directives,
	.conf_size = { [PT_LEVEL_SRV] = sizeof(struct tls_srv),
		       [PT_LEVEL_LOC] = sizeof(struct tls_loc) },
	.conf_create = tls_conf_create,
	.conf_merge = tls_conf_merge,
	.postconfig = tls_postconfig,
	.variables = tls_variables,
};
