/*
 * tls_conf.c: the TLS module's directives and the contexts built from
 * them (master, config time). One server context per server block that
 * has certificates; one client context per distinct set of proxy_ssl_*
 * settings. Everything is loaded here, before fork: a missing or bad
 * certificate, key, CA file or ticket key fails `portico -t`, and on a
 * reload the new generation is refused while the old one keeps serving.
 * Key material is never logged.
 */
#include <fcntl.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "tls.h"

#define TS(f)	offsetof(struct tls_srv, f)
#define TL(f)	offsetof(struct tls_loc, f)

static const char *const tls_verify_names[] = { "off", "on", "optional", "optional_no_ca", NULL };

int tls_ctx_index = -1;
int tls_ssl_loc_index = -1;

/* the text of the newest OpenSSL error, queue cleared */
static const char *
tls_err(struct pt_pool *pool)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256];

	if (e == 0)
		return "unknown error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return pt_pstrdup(pool, buf);
}

/* "cf->node->args[i]" appended to a lazily created array of char * */
static const char *
tls_set_list(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_array **a = (struct pt_array **)(void *)((char *)conf + (size_t)d->post);

	if (*a == NULL) {
		*a = pt_palloc(cf->pool, sizeof(**a));
		pt_array_init(*a, cf->pool, 2, sizeof(char *));
	}
	*(char **)pt_array_push(*a) = pt_cycle_path(cf->cycle, cf->node->args[0]);
	return NULL;
}

static long
tls_parse_protocols(struct pt_conf_ctx *cf, const char **err)
{
	long mask = 0;
	int i;

	for (i = 0; i < cf->node->nargs; i++) {
		const char *a = cf->node->args[i];

		if (strcmp(a, "TLSv1") == 0)
			mask |= TLS_PROTO_TLSv1;
		else if (strcmp(a, "TLSv1.1") == 0)
			mask |= TLS_PROTO_TLSv11;
		else if (strcmp(a, "TLSv1.2") == 0)
			mask |= TLS_PROTO_TLSv12;
		else if (strcmp(a, "TLSv1.3") == 0)
			mask |= TLS_PROTO_TLSv13;
		else if (strcmp(a, "SSLv2") == 0 || strcmp(a, "SSLv3") == 0)
			continue;	/* accepted for compatibility, never enabled */
		else {
			*err = pt_psprintf(cf->pool, "invalid value \"%s\"", a);
			return PT_UNSET;
		}
	}
	return mask;
}

static const char *
tls_set_protocols(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	long *slot = (long *)(void *)((char *)conf + (size_t)d->post);
	const char *err = NULL;

	*slot = tls_parse_protocols(cf, &err);
	return err;
}

static const char *
tls_set_conf_command(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct tls_srv *ts = conf;
	char **pair;

	(void)d;
	if (ts->conf_commands == NULL) {
		ts->conf_commands = pt_palloc(cf->pool, sizeof(*ts->conf_commands));
		pt_array_init(ts->conf_commands, cf->pool, 2, sizeof(char *) * 2);
	}
	pair = pt_array_push(ts->conf_commands);
	pair[0] = pt_pstrdup(cf->pool, cf->node->args[0]);
	pair[1] = pt_pstrdup(cf->pool, cf->node->args[1]);
	return NULL;
}

static int
tls_cache_zone_init(struct pt_zone *zone, void *old_data)
{
	struct tls_cache *cache;

	if (old_data != NULL) {
		zone->data = old_data;
		return PT_OK;
	}
	cache = pt_slab_calloc(zone->shm, sizeof(*cache));
	if (cache == NULL)
		return PT_ERROR;
	cache->lru.prev = cache->lru.next = &cache->lru;
	zone->data = cache;
	return PT_OK;
}

static const char *
tls_set_session_cache(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct tls_srv *ts = conf;
	int i;

	(void)d;
	for (i = 0; i < cf->node->nargs; i++) {
		const char *a = cf->node->args[i];

		if (strcmp(a, "off") == 0) {
			ts->cache_mode = TLS_CACHE_OFF;
		} else if (strcmp(a, "none") == 0) {
			ts->cache_mode = TLS_CACHE_NONE;
		} else if (strncmp(a, "builtin", 7) == 0) {
			ts->cache_mode = ts->cache_mode == TLS_CACHE_SHARED ? TLS_CACHE_SHARED :
			    TLS_CACHE_BUILTIN;
			ts->builtin_size = 20480;
			if (a[7] == ':' && pt_parse_int(a + 8, 1, 1L << 30, &ts->builtin_size) != PT_OK)
				return pt_psprintf(cf->pool, "invalid session cache \"%s\"", a);
			if (a[7] != ':' && a[7] != '\0')
				return pt_psprintf(cf->pool, "invalid session cache \"%s\"", a);
		} else if (strncmp(a, "shared:", 7) == 0) {
			const char *colon = strrchr(a + 7, ':'), *err = NULL;
			char *name;
			size_t size;

			if (colon == NULL || colon == a + 7 ||
			    pt_parse_size(colon + 1, &size) != PT_OK)
				return pt_psprintf(cf->pool, "invalid session cache \"%s\"", a);
			name = pt_pstrndup(cf->pool, a + 7, (size_t)(colon - a - 7));
			ts->cache_zone = pt_zone_add(cf, name, size, &pt_mod_tls, tls_cache_zone_init,
			    &err);
			if (ts->cache_zone == NULL)
				return err;
			ts->cache_mode = TLS_CACHE_SHARED;
		} else {
			return pt_psprintf(cf->pool, "invalid session cache \"%s\"", a);
		}
	}
	return NULL;
}

const struct pt_directive tls_directives[] = {
	{ "ssl_certificate", PT_CTX_HTTP | PT_CTX_SERVER, PT_D_MULTI, 0, 1, 1, PT_LEVEL_SRV,
	  PT_NO_OFFSET, tls_set_list, NULL, (const void *)TS(certs),
	  "PEM certificate (with its chain) of the server; repeat for RSA and ECDSA pairs" },
	{ "ssl_certificate_key", PT_CTX_HTTP | PT_CTX_SERVER, PT_D_MULTI, 0, 1, 1, PT_LEVEL_SRV,
	  PT_NO_OFFSET, tls_set_list, NULL, (const void *)TS(keys),
	  "PEM private key of the ssl_certificate in the same position" },
	{ "ssl_password_file", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV,
	  TS(password_file), pt_conf_set_str, NULL, NULL,
	  "file of passphrases (one a line, each tried) for encrypted keys" },
	{ "ssl_protocols", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, PT_D_ARGS_ANY, PT_LEVEL_SRV,
	  PT_NO_OFFSET, tls_set_protocols, "TLSv1.2 TLSv1.3", (const void *)TS(protocols),
	  "TLS versions accepted from clients" },
	{ "ssl_ciphers", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV, TS(ciphers),
	  pt_conf_set_str, "HIGH:!aNULL:!MD5", NULL, "TLS 1.2 cipher list (OpenSSL syntax)" },
	{ "ssl_conf_command", PT_CTX_HTTP | PT_CTX_SERVER, PT_D_MULTI, 0, 2, 2, PT_LEVEL_SRV,
	  PT_NO_OFFSET, tls_set_conf_command, NULL, NULL,
	  "an OpenSSL configuration command applied to the server context" },
	{ "ssl_prefer_server_ciphers", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV,
	  TS(prefer_server_ciphers), pt_conf_set_flag, "off", NULL,
	  "the server's cipher order wins over the client's" },
	{ "ssl_ecdh_curve", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV, TS(ecdh_curve),
	  pt_conf_set_str, "auto", NULL, "key exchange groups, colon-separated, or auto" },
	{ "ssl_dhparam", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV, TS(dhparam),
	  pt_conf_set_str, NULL, NULL, "PEM DH parameters for DHE ciphers" },
	{ "ssl_reject_handshake", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV,
	  TS(reject_handshake), pt_conf_set_flag, "off", NULL,
	  "refuse handshakes whose SNI name selects this server" },
	{ "ssl_handshake_timeout", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV,
	  TS(handshake_timeout), pt_conf_set_msec, "60s", NULL,
	  "time for a client to complete the TLS handshake" },
	{ "ssl_session_cache", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 2, PT_LEVEL_SRV, PT_NO_OFFSET,
	  tls_set_session_cache, "none", NULL,
	  "off, none, builtin[:size] or shared:NAME:SIZE (shared by all workers)" },
	{ "ssl_session_timeout", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV,
	  TS(session_timeout), pt_conf_set_msec, "5m", NULL,
	  "lifetime of a cached session or ticket" },
	{ "ssl_session_tickets", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV,
	  TS(session_tickets), pt_conf_set_flag, "on", NULL, "resume sessions with tickets" },
	{ "ssl_session_ticket_key", PT_CTX_HTTP | PT_CTX_SERVER, PT_D_MULTI, 0, 1, 1, PT_LEVEL_SRV,
	  PT_NO_OFFSET, tls_set_list, NULL, (const void *)TS(ticket_key_files),
	  "ticket key file (48 or 80 bytes); the first encrypts, all decrypt" },
	{ "ssl_verify_client", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV,
	  TS(verify_client), pt_conf_set_enum, "off", tls_verify_names,
	  "ask for client certificates: off, on, optional, optional_no_ca" },
	{ "ssl_client_certificate", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV,
	  TS(client_certificate), pt_conf_set_str, NULL, NULL,
	  "CA certificates that verify clients, also sent to them as acceptable" },
	{ "ssl_trusted_certificate", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV,
	  TS(trusted_certificate), pt_conf_set_str, NULL, NULL,
	  "CA certificates that verify clients, not sent to them" },
	{ "ssl_verify_depth", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV,
	  TS(verify_depth), pt_conf_set_num, "1", NULL, "longest client certificate chain" },
	{ "ssl_crl", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV, TS(crl),
	  pt_conf_set_str, NULL, NULL, "PEM revocation lists checked for client certificates" },
	{ "ssl_stapling", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV, TS(stapling),
	  pt_conf_set_flag, "off", NULL, "staple an OCSP response (from ssl_stapling_file)" },
	{ "ssl_stapling_file", PT_CTX_HTTP | PT_CTX_SERVER, 0, 0, 1, 1, PT_LEVEL_SRV,
	  TS(stapling_file), pt_conf_set_str, NULL, NULL, "DER OCSP response to staple" },

	{ "proxy_ssl_verify", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, TL(verify),
	  pt_conf_set_flag, "off", NULL, "verify the upstream's certificate and name" },
	{ "proxy_ssl_trusted_certificate", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC,
	  TL(trusted_certificate), pt_conf_set_str, NULL, NULL,
	  "CA certificates that verify upstreams" },
	{ "proxy_ssl_verify_depth", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, TL(verify_depth),
	  pt_conf_set_num, "1", NULL, "longest upstream certificate chain" },
	{ "proxy_ssl_name", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, TL(name), pt_conf_set_str,
	  NULL, NULL, "name checked and sent as SNI instead of the proxy_pass host" },
	{ "proxy_ssl_server_name", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, TL(server_name),
	  pt_conf_set_flag, "off", NULL, "send the name to upstreams with SNI" },
	{ "proxy_ssl_protocols", PT_CTX_HTTP_ANY, 0, 0, 1, PT_D_ARGS_ANY, PT_LEVEL_LOC,
	  PT_NO_OFFSET, tls_set_protocols, "TLSv1.2 TLSv1.3", (const void *)TL(protocols),
	  "TLS versions offered to upstreams" },
	{ "proxy_ssl_ciphers", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, TL(ciphers),
	  pt_conf_set_str, "DEFAULT", NULL, "TLS 1.2 cipher list offered to upstreams" },
	{ "proxy_ssl_certificate", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, TL(certificate),
	  pt_conf_set_str, NULL, NULL, "client certificate presented to upstreams" },
	{ "proxy_ssl_certificate_key", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC,
	  TL(certificate_key), pt_conf_set_str, NULL, NULL, "key of proxy_ssl_certificate" },
	{ "proxy_ssl_session_reuse", PT_CTX_HTTP_ANY, 0, 0, 1, 1, PT_LEVEL_LOC, TL(session_reuse),
	  pt_conf_set_flag, "on", NULL, "resume TLS sessions with upstreams" },
	PT_DIRECTIVE_END
};

void
tls_conf_create(struct pt_conf_ctx *cf, enum pt_conf_level level, void *conf)
{
	(void)cf;
	if (level == PT_LEVEL_SRV) {
		struct tls_srv *ts = conf;

		ts->protocols = PT_UNSET;
		ts->cache_mode = TLS_CACHE_UNSET;
	} else if (level == PT_LEVEL_LOC) {
		((struct tls_loc *)conf)->protocols = PT_UNSET;
	}
}

static int
tls_ticket_zone_init(struct pt_zone *zone, void *old_data)
{
	struct tls_ticket_zone *tz;

	if (old_data != NULL) {
		zone->data = old_data;
		return PT_OK;
	}
	tz = pt_slab_calloc(zone->shm, sizeof(*tz));
	if (tz == NULL)
		return PT_ERROR;
	zone->data = tz;	/* keys are made on first use (rotated == 0) */
	return PT_OK;
}

const char *
tls_conf_merge(struct pt_conf_ctx *cf, enum pt_conf_level level, void *parent, void *child)
{
	if (level == PT_LEVEL_SRV) {
		struct tls_srv *p = parent, *c = child;

		if (c->certs == NULL && p != NULL) {
			c->certs = p->certs;
			c->keys = p->keys;
		}
		if (c->ticket_key_files == NULL && p != NULL)
			c->ticket_key_files = p->ticket_key_files;
		if (c->conf_commands == NULL && p != NULL)
			c->conf_commands = p->conf_commands;
		if (c->protocols == PT_UNSET)
			c->protocols = p != NULL ? p->protocols : TLS_PROTO_DEFAULT;
		if (c->cache_mode == TLS_CACHE_UNSET) {
			c->cache_mode = p != NULL ? p->cache_mode : TLS_CACHE_NONE;
			c->builtin_size = p != NULL ? p->builtin_size : 0;
			c->cache_zone = p != NULL ? p->cache_zone : NULL;
		}
		if (p == NULL) {
			/*
			 * Automatic ticket keys, shared by all workers and
			 * rotated every ssl_session_timeout (http level).
			 */
			const char *err = NULL;

			c->ticket_zone = pt_zone_add(cf, "tls_ticket_keys", PT_SHM_MIN_SIZE,
			    &pt_mod_tls, tls_ticket_zone_init, &err);
			if (c->ticket_zone == NULL)
				return err;
		} else {
			c->ticket_zone = p->ticket_zone;
		}
		if ((c->certs ? c->certs->nelts : 0) != (c->keys ? c->keys->nelts : 0))
			return "every \"ssl_certificate\" needs its \"ssl_certificate_key\"";
	} else if (level == PT_LEVEL_LOC) {
		struct tls_loc *p = parent, *c = child;

		if (c->protocols == PT_UNSET)
			c->protocols = p != NULL ? p->protocols : TLS_PROTO_DEFAULT;
	}
	return NULL;
}

/* apply a TLS_PROTO_* mask as OpenSSL options */
static void
tls_set_proto_options(SSL_CTX *ctx, long mask)
{
	long opts = 0;

	if (!(mask & TLS_PROTO_TLSv1))
		opts |= SSL_OP_NO_TLSv1;
	if (!(mask & TLS_PROTO_TLSv11))
		opts |= SSL_OP_NO_TLSv1_1;
	if (!(mask & TLS_PROTO_TLSv12))
		opts |= SSL_OP_NO_TLSv1_2;
	if (!(mask & TLS_PROTO_TLSv13))
		opts |= SSL_OP_NO_TLSv1_3;
	SSL_CTX_set_min_proto_version(ctx, 0);
	SSL_CTX_set_max_proto_version(ctx, 0);
	if (mask & (TLS_PROTO_TLSv1 | TLS_PROTO_TLSv11))
		/* old versions need the legacy security level to be usable */
		SSL_CTX_set_security_level(ctx, 0);
	SSL_CTX_set_options(ctx, (uint64_t)opts);
}

static void
tls_ctx_free(void *data)
{
	SSL_CTX_free(data);
}

static void
tls_session_free(void *data)
{
	struct tls_loc *tl = data;

	if (tl->session != NULL)
		SSL_SESSION_free(tl->session);
	tl->session = NULL;
}

struct tls_pw {
	char	**lines;
	int	  n;
	int	  i;
};

static int
tls_pw_cb(char *buf, int size, int rwflag, void *u)
{
	struct tls_pw *pw = u;
	size_t len;

	(void)rwflag;
	if (pw == NULL || pw->i >= pw->n)
		return 0;
	len = strlen(pw->lines[pw->i]);
	if ((int)len >= size)
		len = (size_t)size - 1;
	memcpy(buf, pw->lines[pw->i], len);
	return (int)len;
}

/* read a small file whole into the cycle pool; NULL with *err */
static unsigned char *
tls_read_file(struct pt_cycle *cycle, const char *path, long *len, const char **err)
{
	unsigned char *data;
	long cap = 65536, n = 0;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		*err = pt_psprintf(cycle->pool, "cannot open \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	data = pt_palloc(cycle->pool, (size_t)cap + 1);
	while (n < cap && (r = read(fd, data + n, (size_t)(cap - n))) > 0)
		n += r;
	close(fd);
	data[n] = '\0';
	*len = n;
	return data;
}

/* load the private key <path> trying each password line */
static EVP_PKEY *
tls_load_key(struct tls_srv *ts, struct pt_cycle *cycle, const char *path, const char **err)
{
	struct tls_pw pw = { NULL, 0, 0 };
	EVP_PKEY *key = NULL;
	BIO *bio;

	if (ts->password_file != NULL) {
		const char *e = NULL;
		long len;
		char *data = (char *)tls_read_file(cycle, pt_cycle_path(cycle, ts->password_file),
		    &len, &e), *line, *save = NULL;

		if (data == NULL) {
			*err = e;
			return NULL;
		}
		pw.lines = pt_palloc(cycle->pool, sizeof(char *) * 64);
		for (line = strtok_r(data, "\r\n", &save); line != NULL && pw.n < 64;
		    line = strtok_r(NULL, "\r\n", &save))
			pw.lines[pw.n++] = line;
	}
	do {
		bio = BIO_new_file(path, "r");
		if (bio == NULL) {
			*err = pt_psprintf(cycle->pool, "cannot load certificate key \"%s\": %s", path,
			    tls_err(cycle->pool));
			return NULL;
		}
		ERR_clear_error();
		key = PEM_read_bio_PrivateKey(bio, NULL, tls_pw_cb, ts->password_file ? &pw : NULL);
		BIO_free(bio);
	} while (key == NULL && ts->password_file != NULL && ++pw.i < pw.n);
	if (key == NULL)
		*err = pt_psprintf(cycle->pool, "cannot load certificate key \"%s\": %s", path,
		    tls_err(cycle->pool));
	if (ts->password_file != NULL)
		for (pw.i = 0; pw.i < pw.n; pw.i++)
			OPENSSL_cleanse(pw.lines[pw.i], strlen(pw.lines[pw.i]));
	return key;
}

static const char *
tls_load_ticket_keys(struct tls_srv *ts, struct pt_cycle *cycle)
{
	size_t i;

	ts->nticket_keys = (int)ts->ticket_key_files->nelts;
	ts->ticket_keys = pt_pcalloc(cycle->pool, sizeof(*ts->ticket_keys) *
	    ts->ticket_key_files->nelts);
	for (i = 0; i < ts->ticket_key_files->nelts; i++) {
		const char *path = ((char **)ts->ticket_key_files->elts)[i], *err = NULL;
		struct tls_ticket_key *k = &ts->ticket_keys[i];
		unsigned char *d;
		long len;

		d = tls_read_file(cycle, path, &len, &err);
		if (d == NULL)
			return err;
		if (len == 48) {
			memcpy(k->name, d, 16);
			memcpy(k->hmac, d + 16, 16);
			memcpy(k->aes, d + 32, 16);
			k->hmac_len = 16;
			k->aes256 = 0;
		} else if (len == 80) {
			memcpy(k->name, d, 16);
			memcpy(k->hmac, d + 16, 32);
			memcpy(k->aes, d + 48, 32);
			k->hmac_len = 32;
			k->aes256 = 1;
		} else {
			OPENSSL_cleanse(d, (size_t)len);
			return pt_psprintf(cycle->pool, "\"%s\" must be 48 or 80 bytes, not %ld",
			    path, len);
		}
		OPENSSL_cleanse(d, (size_t)len);
	}
	return NULL;
}

/* CA file into the context's store, plus CRLs */
static const char *
tls_load_verify(SSL_CTX *ctx, struct pt_cycle *cycle, struct tls_srv *ts)
{
	if (ts->client_certificate != NULL) {
		const char *path = pt_cycle_path(cycle, ts->client_certificate);
		STACK_OF(X509_NAME) *names;

		if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1)
			return pt_psprintf(cycle->pool, "cannot load client certificates \"%s\": %s",
			    path, tls_err(cycle->pool));
		names = SSL_load_client_CA_file(path);
		if (names == NULL)
			return pt_psprintf(cycle->pool, "cannot read CA names from \"%s\": %s", path,
			    tls_err(cycle->pool));
		SSL_CTX_set_client_CA_list(ctx, names);
	}
	if (ts->trusted_certificate != NULL) {
		const char *path = pt_cycle_path(cycle, ts->trusted_certificate);

		if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1)
			return pt_psprintf(cycle->pool, "cannot load trusted certificates \"%s\": %s",
			    path, tls_err(cycle->pool));
	}
	if (ts->crl != NULL) {
		const char *path = pt_cycle_path(cycle, ts->crl);
		X509_STORE *store = SSL_CTX_get_cert_store(ctx);
		X509_LOOKUP *lk = X509_STORE_add_lookup(store, X509_LOOKUP_file());

		if (lk == NULL || X509_load_crl_file(lk, path, X509_FILETYPE_PEM) <= 0)
			return pt_psprintf(cycle->pool, "cannot load CRL \"%s\": %s", path,
			    tls_err(cycle->pool));
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	}
	return NULL;
}

/* the server context of <ts>; NULL with an error message in *err */
static SSL_CTX *
tls_server_ctx(struct pt_cycle *cycle, struct tls_srv *ts, const char **err)
{
	static const unsigned char sid_ctx[] = "portico";
	SSL_CTX *ctx;
	size_t i;

	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		*err = tls_err(cycle->pool);
		return NULL;
	}
	pt_pool_cleanup_add(cycle->pool, tls_ctx_free, ctx);
	SSL_CTX_set_ex_data(ctx, tls_ctx_index, ts);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	    SSL_MODE_RELEASE_BUFFERS);
	/* whole socket reads, not a header then a body per record */
	SSL_CTX_set_read_ahead(ctx, 1);
	tls_set_proto_options(ctx, ts->protocols);
	if (ts->prefer_server_ciphers)
		SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_set_cipher_list(ctx, ts->ciphers) != 1) {
		*err = pt_psprintf(cycle->pool, "invalid \"ssl_ciphers\" \"%s\": %s", ts->ciphers,
		    tls_err(cycle->pool));
		return NULL;
	}
	if (strcmp(ts->ecdh_curve, "auto") != 0 && SSL_CTX_set1_groups_list(ctx, ts->ecdh_curve) != 1) {
		*err = pt_psprintf(cycle->pool, "invalid \"ssl_ecdh_curve\" \"%s\": %s",
		    ts->ecdh_curve, tls_err(cycle->pool));
		return NULL;
	}
	if (ts->dhparam != NULL) {
		const char *path = pt_cycle_path(cycle, ts->dhparam);
		BIO *bio = BIO_new_file(path, "r");
		EVP_PKEY *dh = bio ? PEM_read_bio_Parameters(bio, NULL) : NULL;

		BIO_free(bio);
		if (dh == NULL || SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
			EVP_PKEY_free(dh);
			*err = pt_psprintf(cycle->pool, "cannot load \"ssl_dhparam\" \"%s\": %s", path,
			    tls_err(cycle->pool));
			return NULL;
		}
	}
	for (i = 0; ts->certs != NULL && i < ts->certs->nelts; i++) {
		const char *cert = ((char **)ts->certs->elts)[i];
		const char *key = ((char **)ts->keys->elts)[i];
		EVP_PKEY *pkey;

		if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
			*err = pt_psprintf(cycle->pool, "cannot load certificate \"%s\": %s", cert,
			    tls_err(cycle->pool));
			return NULL;
		}
		pkey = tls_load_key(ts, cycle, key, err);
		if (pkey == NULL)
			return NULL;
		if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1) {
			EVP_PKEY_free(pkey);
			*err = pt_psprintf(cycle->pool, "certificate key \"%s\" does not match \"%s\": %s",
			    key, cert, tls_err(cycle->pool));
			return NULL;
		}
		EVP_PKEY_free(pkey);
	}
	if (ts->conf_commands != NULL) {
		SSL_CONF_CTX *cctx = SSL_CONF_CTX_new();

		SSL_CONF_CTX_set_flags(cctx, SSL_CONF_FLAG_FILE | SSL_CONF_FLAG_SERVER |
		    SSL_CONF_FLAG_CERTIFICATE | SSL_CONF_FLAG_SHOW_ERRORS);
		SSL_CONF_CTX_set_ssl_ctx(cctx, ctx);
		for (i = 0; i < ts->conf_commands->nelts; i++) {
			char **pair = (char **)ts->conf_commands->elts + 2 * i;

			if (SSL_CONF_cmd(cctx, pair[0], pair[1]) <= 0) {
				SSL_CONF_CTX_free(cctx);
				*err = pt_psprintf(cycle->pool, "\"ssl_conf_command %s %s\" failed: %s",
				    pair[0], pair[1], tls_err(cycle->pool));
				return NULL;
			}
		}
		SSL_CONF_CTX_finish(cctx);
		SSL_CONF_CTX_free(cctx);
	}
	if (ts->verify_client != TLS_VERIFY_OFF) {
		int mode = SSL_VERIFY_PEER;

		if (ts->verify_client == TLS_VERIFY_ON && ts->client_certificate == NULL &&
		    ts->trusted_certificate == NULL) {
			*err = "\"ssl_verify_client\" needs \"ssl_client_certificate\" or "
			    "\"ssl_trusted_certificate\"";
			return NULL;
		}
		SSL_CTX_set_verify(ctx, mode, tls_verify_cb);
		SSL_CTX_set_verify_depth(ctx, (int)ts->verify_depth);
		*err = tls_load_verify(ctx, cycle, ts);
		if (*err != NULL)
			return NULL;
	}
	/* sessions */
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_timeout(ctx, (long)(ts->session_timeout / 1000));
	switch (ts->cache_mode) {
	case TLS_CACHE_OFF:
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		break;
	case TLS_CACHE_NONE:
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
		break;
	case TLS_CACHE_BUILTIN:
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
		SSL_CTX_sess_set_cache_size(ctx, ts->builtin_size);
		break;
	case TLS_CACHE_SHARED:
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER |
		    SSL_SESS_CACHE_NO_INTERNAL | SSL_SESS_CACHE_NO_AUTO_CLEAR);
		SSL_CTX_sess_set_new_cb(ctx, tls_new_session_cb);
		SSL_CTX_sess_set_get_cb(ctx, tls_get_session_cb);
		SSL_CTX_sess_set_remove_cb(ctx, tls_remove_session_cb);
		break;
	}
	if (!ts->session_tickets) {
		/* TLS 1.3 then resumes with stateful tickets: IDs in the cache */
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, ts->cache_mode == TLS_CACHE_SHARED ||
		    ts->cache_mode == TLS_CACHE_BUILTIN ? 1 : 0);
	} else {
		if (ts->ticket_key_files != NULL) {
			*err = tls_load_ticket_keys(ts, cycle);
			if (*err != NULL)
				return NULL;
		}
		SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb);
		/* one ticket per handshake: clients keep the latest */
		SSL_CTX_set_num_tickets(ctx, 1);
	}
	if (ts->stapling && ts->stapling_file != NULL) {
		const char *path = pt_cycle_path(cycle, ts->stapling_file);
		long len;

		ts->staple = tls_read_file(cycle, path, &len, err);
		if (ts->staple == NULL)
			return NULL;
		ts->staple_len = len;
		SSL_CTX_set_tlsext_status_cb(ctx, tls_status_cb);
		SSL_CTX_set_tlsext_status_arg(ctx, ts);
	} else if (ts->stapling) {
		pt_log(PT_LOG_WARN, 0, "\"ssl_stapling\" without \"ssl_stapling_file\" is ignored: "
		    "responses are not fetched from OCSP responders");
	}
	SSL_CTX_set_tlsext_servername_callback(ctx, tls_servername_cb);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, NULL);
	return ctx;
}

/* a client context for <tl>, shared with an earlier location of equal settings */
static const char *
tls_client_ctx(struct pt_cycle *cycle, struct tls_loc *tl, struct pt_array *seen)
{
	SSL_CTX *ctx;
	size_t i;

#define TLS_SAME_STR(a, b)	((a) == (b) || ((a) && (b) && strcmp((a), (b)) == 0))
	for (i = 0; i < seen->nelts; i++) {
		struct tls_loc *o = ((struct tls_loc **)seen->elts)[i];

		if (o->verify == tl->verify && o->verify_depth == tl->verify_depth &&
		    o->protocols == tl->protocols && o->session_reuse == tl->session_reuse &&
		    o->server_name == tl->server_name && TLS_SAME_STR(o->name, tl->name) &&
		    TLS_SAME_STR(o->trusted_certificate, tl->trusted_certificate) &&
		    TLS_SAME_STR(o->ciphers, tl->ciphers) &&
		    TLS_SAME_STR(o->certificate, tl->certificate) &&
		    TLS_SAME_STR(o->certificate_key, tl->certificate_key)) {
			tl->ctx = o->ctx;
			return NULL;
		}
	}
#undef TLS_SAME_STR
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		return tls_err(cycle->pool);
	pt_pool_cleanup_add(cycle->pool, tls_ctx_free, ctx);
	pt_pool_cleanup_add(cycle->pool, tls_session_free, tl);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	    SSL_MODE_RELEASE_BUFFERS);
	/* whole socket reads, not a header then a body per record */
	SSL_CTX_set_read_ahead(ctx, 1);
	tls_set_proto_options(ctx, tl->protocols);
	if (SSL_CTX_set_cipher_list(ctx, tl->ciphers) != 1)
		return pt_psprintf(cycle->pool, "invalid \"proxy_ssl_ciphers\" \"%s\": %s",
		    tl->ciphers, tls_err(cycle->pool));
	/* verification is checked after the handshake, to log the reason */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_verify_depth(ctx, (int)tl->verify_depth);
	if (tl->trusted_certificate != NULL) {
		const char *path = pt_cycle_path(cycle, tl->trusted_certificate);

		if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1)
			return pt_psprintf(cycle->pool, "cannot load \"proxy_ssl_trusted_certificate\" "
			    "\"%s\": %s", path, tls_err(cycle->pool));
	} else if (tl->verify) {
		SSL_CTX_set_default_verify_paths(ctx);
	}
	if (tl->certificate != NULL) {
		const char *cert = pt_cycle_path(cycle, tl->certificate);
		const char *key = tl->certificate_key ? pt_cycle_path(cycle, tl->certificate_key) : NULL;

		if (key == NULL)
			return "\"proxy_ssl_certificate\" needs \"proxy_ssl_certificate_key\"";
		if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
			return pt_psprintf(cycle->pool, "cannot load \"proxy_ssl_certificate\" \"%s\": %s",
			    cert, tls_err(cycle->pool));
		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1)
			return pt_psprintf(cycle->pool, "cannot load \"proxy_ssl_certificate_key\" "
			    "\"%s\": %s", key, tls_err(cycle->pool));
	}
	if (tl->session_reuse) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
		    SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, tls_client_new_session_cb);
	} else {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	tl->ctx = ctx;
	*(struct tls_loc **)pt_array_push(seen) = tl;
	return NULL;
}

/* does one of <s>'s listens use an ssl listener? */
static int
tls_srv_on_ssl(struct pt_cycle *cycle, struct pt_http_srv *s)
{
	size_t i, k;

	for (i = 0; i < s->listens.nelts; i++) {
		struct pt_http_listen *hl = (struct pt_http_listen *)s->listens.elts + i;

		for (k = 0; k < cycle->listeners.nelts; k++) {
			struct pt_listener *pl = (struct pt_listener *)cycle->listeners.elts + k;

			if (pl->ssl && pl->addr.len == hl->addr.len &&
			    memcmp(&pl->addr.sa, &hl->addr.sa, hl->addr.len) == 0)
				return 1;
		}
	}
	return 0;
}

int
tls_conf_postconfig(struct pt_cycle *cycle)
{
	struct pt_http_main *hm = cycle->http;
	struct pt_array seen;
	size_t i;
	int j;

	if (hm == NULL)
		return PT_OK;
	if (tls_ctx_index == -1)
		tls_ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (tls_ssl_loc_index == -1)
		tls_ssl_loc_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	pt_array_init(&seen, cycle->pool, 2, sizeof(struct tls_loc *));
	for (i = 0; i < hm->servers.nelts; i++) {
		struct pt_http_srv *s = ((struct pt_http_srv **)hm->servers.elts)[i];
		struct tls_srv *ts = s->srv_conf[pt_mod_tls.index];
		const char *err = NULL;

		ts->srv = s;
		if ((ts->certs == NULL || ts->certs->nelts == 0) && tls_srv_on_ssl(cycle, s) &&
		    !ts->reject_handshake) {
			pt_log(PT_LOG_EMERG, 0, "%s:%d: no \"ssl_certificate\" is defined for the "
			    "server on a \"listen ... ssl\" address", s->file, s->line);
			return PT_ERROR;
		}
		/* a rejecting server without certificates gets a bare context */
		if ((ts->certs != NULL && ts->certs->nelts > 0) ||
		    (ts->reject_handshake && tls_srv_on_ssl(cycle, s))) {
			ts->ctx = tls_server_ctx(cycle, ts, &err);
			if (ts->ctx == NULL) {
				pt_log(PT_LOG_EMERG, 0, "%s:%d: %s", s->file, s->line, err);
				return PT_ERROR;
			}
		}
		/* upstream contexts: the server level and every location */
		for (j = -2; j < s->nexact + s->nprefix; j++) {
			struct pt_http_loc *l = j == -2 ? NULL : j == -1 ? s->root_loc :
			    j < s->nexact ? s->exact[j] : s->prefix[j - s->nexact];
			void **lc = l != NULL ? l->loc_conf : s->loc_conf;
			struct tls_loc *tl = lc[pt_mod_tls.index];

			if (tl->ctx != NULL)
				continue;
			err = tls_client_ctx(cycle, tl, &seen);
			if (err != NULL) {
				pt_log(PT_LOG_EMERG, 0, "%s:%d: %s", l ? l->file ? l->file : s->file : s->file,
				    l && l->file ? l->line : s->line, err);
				return PT_ERROR;
			}
		}
	}
	/* ssl listeners start their handshake with the default server's context */
	for (i = 0; i < cycle->listeners.nelts; i++) {
		struct pt_listener *pl = (struct pt_listener *)cycle->listeners.elts + i;
		struct pt_http_addr_servers *as = pl->servers;

		if (!pl->ssl)
			continue;
		PT_ASSERT(((struct tls_srv *)as->default_server->srv_conf[pt_mod_tls.index])->ctx);
		pl->init_conn = tls_accept;
	}
	return PT_OK;
}
