/*
 * tls.h: the TLS module, shared by its config half (tls_conf.c, master:
 * contexts, certificates, keys and zones are built before fork, so a bad
 * file fails -t and a reload keeps the running generation) and its
 * runtime half (tls_module.c, worker: handshakes, SNI, sessions,
 * variables, client verification, TLS to upstreams). The byte I/O of an
 * established connection is in the core (worker/tls_io.c).
 */
#ifndef PT_TLS_H
#define PT_TLS_H

#include <openssl/ssl.h>

#include "portico.h"

extern struct pt_module pt_mod_tls;

enum tls_verify { TLS_VERIFY_OFF = 0, TLS_VERIFY_ON, TLS_VERIFY_OPTIONAL,
	TLS_VERIFY_OPTIONAL_NO_CA };

#define TLS_PROTO_TLSv1		0x01
#define TLS_PROTO_TLSv11	0x02
#define TLS_PROTO_TLSv12	0x04
#define TLS_PROTO_TLSv13	0x08
#define TLS_PROTO_DEFAULT	(TLS_PROTO_TLSv12 | TLS_PROTO_TLSv13)

enum tls_cache_mode { TLS_CACHE_UNSET = -1, TLS_CACHE_OFF = 0, TLS_CACHE_NONE,
	TLS_CACHE_BUILTIN, TLS_CACHE_SHARED };

/* one ticket key: 16 bytes name, HMAC and AES keys (AES-256 or AES-128) */
struct tls_ticket_key {
	unsigned char	 name[16];
	unsigned char	 hmac[32];
	unsigned char	 aes[32];
	int		 aes256;		/* 1: AES-256-CBC, 0: AES-128-CBC */
	size_t		 hmac_len;		/* 32 or 16 */
};

/* shared ticket keys rotated by whoever first sees them expired */
struct tls_ticket_zone {
	time_t			 rotated;	/* when <keys[0]> was made */
	struct tls_ticket_key	 keys[2];	/* [0] encrypts, both decrypt */
	int			 nkeys;
};

/* the shared session cache (in its zone) */
#define TLS_CACHE_BUCKETS	4096
struct tls_sess {
	struct tls_sess	*hnext;			/* hash chain */
	struct tls_sess	*prev, *next;		/* LRU, most recent at head */
	time_t		 expire;
	unsigned	 id_len;
	unsigned char	 id[SSL_MAX_SSL_SESSION_ID_LENGTH];
	unsigned	 len;			/* DER bytes below */
	unsigned char	 der[];
};
struct tls_cache {
	struct tls_sess	*buckets[TLS_CACHE_BUCKETS];
	struct tls_sess	 lru;			/* sentinel */
	uint64_t	 stores, hits, misses, evictions;
};

/* server level (http and server blocks) */
struct tls_srv {
	struct pt_array		*certs;		/* char *, ssl_certificate */
	struct pt_array		*keys;		/* char *, ssl_certificate_key */
	char			*password_file;
	long			 protocols;	/* TLS_PROTO_* mask, PT_UNSET */
	char			*ciphers;
	struct pt_array		*conf_commands;	/* char *[2] */
	int			 prefer_server_ciphers;
	char			*ecdh_curve;
	char			*dhparam;
	int			 reject_handshake;
	pt_msec_t		 handshake_timeout;
	int			 cache_mode;	/* enum tls_cache_mode */
	long			 builtin_size;
	struct pt_zone		*cache_zone;	/* shared:NAME:SIZE */
	pt_msec_t		 session_timeout;
	int			 session_tickets;
	struct pt_array		*ticket_key_files;/* char * */
	int			 verify_client;	/* enum tls_verify */
	char			*client_certificate;
	char			*trusted_certificate;
	long			 verify_depth;
	char			*crl;
	int			 stapling;
	char			*stapling_file;

	/* built in postconfig */
	SSL_CTX			*ctx;		/* NULL: no certificate here */
	struct tls_ticket_key	*ticket_keys;	/* from files, [nticket_keys] */
	int			 nticket_keys;
	struct pt_zone		*ticket_zone;	/* automatic keys (http level) */
	unsigned char		*staple;	/* DER OCSP response */
	long			 staple_len;
	struct pt_http_srv	*srv;
};

/* location level: TLS to upstreams (proxy_ssl_*) */
struct tls_loc {
	int			 verify;
	char			*trusted_certificate;
	long			 verify_depth;
	char			*name;		/* proxy_ssl_name, NULL = the URL host */
	int			 server_name;
	long			 protocols;
	char			*ciphers;
	char			*certificate;
	char			*certificate_key;
	int			 session_reuse;

	SSL_CTX			*ctx;		/* shared by locations with equal settings */
	SSL_SESSION		*session;	/* per worker: last session, for reuse */
};

/* tls_conf.c */
int	tls_conf_postconfig(struct pt_cycle *cycle);
extern const struct pt_directive tls_directives[];
void	tls_conf_create(struct pt_conf_ctx *cf, enum pt_conf_level level, void *conf);
const char *tls_conf_merge(struct pt_conf_ctx *cf, enum pt_conf_level level, void *parent,
	    void *child);

/* tls_module.c: callbacks installed on contexts by tls_conf.c */
int	tls_servername_cb(SSL *ssl, int *ad, void *arg);
int	tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
	    const unsigned char *in, unsigned int inlen, void *arg);
int	tls_new_session_cb(SSL *ssl, SSL_SESSION *sess);
SSL_SESSION *tls_get_session_cb(SSL *ssl, const unsigned char *id, int len, int *copy);
void	tls_remove_session_cb(SSL_CTX *ctx, SSL_SESSION *sess);
int	tls_ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *ectx,
	    EVP_MAC_CTX *hctx, int enc);
int	tls_status_cb(SSL *ssl, void *arg);
int	tls_verify_cb(int ok, X509_STORE_CTX *store);
void	tls_accept(struct pt_conn *c);
int	tls_client_new_session_cb(SSL *ssl, SSL_SESSION *sess);
extern int tls_ctx_index;	/* SSL_CTX ex_data: struct tls_srv * */
extern int tls_ssl_loc_index;	/* SSL ex_data (upstream side): struct tls_loc * */

/*
 * TLS to upstreams, for the proxy. pt_tls_upstream_start() wraps the
 * freshly connected <uc> for the request's location (SNI and name check
 * with <host> unless proxy_ssl_name is set). PT_OK or PT_ERROR (logged).
 * Then pt_tls_handshake() until PT_OK, then pt_tls_upstream_verify():
 * PT_OK, or PT_ERROR with the reason logged.
 */
int	pt_tls_upstream_start(struct pt_conn *uc, struct pt_request *r, struct pt_str host);
int	pt_tls_upstream_verify(struct pt_conn *uc, struct pt_request *r);
/* does the location of <r> have an upstream TLS context? */
int	pt_tls_upstream_enabled(struct pt_request *r);

#endif /* PT_TLS_H */
