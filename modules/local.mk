portico_SOURCES += \
	modules/modules.c \
	modules/core/core_module.c \
	modules/http/http_core_module.c \
	modules/http/http_log_module.c \
	modules/rewrite/rewrite_module.c \
	modules/upstream/upstream_module.c \
	modules/upstream/upstream_priv.h \
	modules/upstream/balance.c \
	modules/upstream/health.c \
	modules/upstream/status.c \
	modules/proxy/proxy.h \
	modules/proxy/proxy_module.c \
	modules/proxy/proxy_conf.c \
	modules/proxy/proxy_retry.h \
	modules/proxy/proxy_retry.c \
	modules/tls/tls.h \
	modules/tls/tls_conf.c \
	modules/tls/tls_module.c \
	modules/limit_req/limit_req.h \
	modules/limit_req/limit_shm.h \
	modules/limit_req/limit_shm.c \
	modules/limit_req/limit_req_module.c \
	modules/limit_req/limit_redis.c \
	modules/limit_conn/limit_conn_module.c \
	modules/access/cidr.h \
	modules/access/access_module.c \
	modules/realip/realip_module.c
