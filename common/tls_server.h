/*
 * Server-side TLS as a pure state machine over memory buffers (OpenSSL 3
 * with two memory BIOs per connection), so the HTTP server can put it under
 * its libuv TCP connections and tests can drive it without sockets.
 *
 * Owns the TLS context (certificate, key, client CA list, loaded once at
 * start-up) and one SSL object per connection. Configured as Loki's
 * server.http_tls_config (dskit / exporter-toolkit semantics):
 *   - TLS is on when cert_file is set; key_file is then required;
 *   - client_auth_type is one of Go's tls.ClientAuthType names:
 *     NoClientCert (or empty), RequestClientCert (asked, not required, not
 *     verified), RequireAnyClientCert (alias RequireClientCert: required,
 *     not verified), VerifyClientCertIfGiven (verified when sent),
 *     RequireAndVerifyClientCert (required and verified);
 *   - client_ca_file verifies client certificates (system roots when
 *     empty, as Go); a CA file with NoClientCert is an error, as in
 *     exporter-toolkit;
 *   - TLS 1.2 is the minimum (TLS 1.3 when min_version says so);
 *   - the certificate and key files are looked at again when a handshake
 *     starts (at most once a second) and reloaded when they changed, so a
 *     rotated certificate is served without a restart, as Loki reads them
 *     per handshake. A rotation that does not load (half-written, key not
 *     matching) keeps the previous pair and logs a warning once.
 *
 * Threads: a context and its connections belong to one thread (the loop
 * thread): handshakes may reload the context's certificate.
 */
#ifndef NOA_COMMON_TLS_SERVER_H
#define NOA_COMMON_TLS_SERVER_H

#include "common/buf.h"
#include "common/err.h"

#include <stddef.h>

struct noa_tls_server;
struct noa_tls_server_conn;

enum noa_tls_server_client_auth {
    NOA_TLS_SERVER_NO_CLIENT_CERT = 0,
    NOA_TLS_SERVER_REQUEST_CLIENT_CERT,
    NOA_TLS_SERVER_REQUIRE_ANY_CLIENT_CERT,
    NOA_TLS_SERVER_VERIFY_CLIENT_CERT_IF_GIVEN,
    NOA_TLS_SERVER_REQUIRE_AND_VERIFY_CLIENT_CERT,
};

struct noa_tls_server_options {
    const char *cert_file;        /* PEM certificate (chain); required */
    const char *key_file;         /* PEM private key; required */
    const char *client_auth_type; /* Go's name; NULL or "" = NoClientCert */
    const char *client_ca_file;   /* PEM CAs for client certificates; NULL or "" = none */
    /* "" / NULL or VersionTLS12: TLS 1.2; VersionTLS13: TLS 1.3 only.
     * VersionTLS10 and VersionTLS11 are accepted and raised to 1.2. */
    const char *min_version;
};

/* What noa_tls_server_conn_input found besides ordinary records. */
enum {
    NOA_TLS_SERVER_OK = 0,
    NOA_TLS_SERVER_EOF = 1,        /* the peer sent close_notify: no more input */
    NOA_TLS_SERVER_PLAIN_HTTP = 2, /* the first bytes are a plain HTTP request */
};

/* Go's answer to plain HTTP on a TLS port (net/http), written unencrypted
 * before the connection is closed. */
#define NOA_TLS_SERVER_PLAIN_HTTP_REPLY                                                            \
    "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"

/* Parses a Go tls.ClientAuthType name (NULL and "" are NoClientCert).
 * Returns 0 or NOA_EINVAL. */
int noa_tls_server_parse_client_auth(const char *name, enum noa_tls_server_client_auth *out);

/*
 * Loads the certificate, key and client CAs and builds the context.
 * Returns 0, or NOA_EINVAL with err naming the file and OpenSSL's reason
 * (unreadable file, bad PEM, key not matching the certificate, unknown
 * client_auth_type). *out belongs to the caller (noa_tls_server_free).
 */
int noa_tls_server_new(const struct noa_tls_server_options *opts, struct noa_tls_server **out,
                       struct noa_error *err);

/* Frees the context; its connections must be freed first. NULL is a
 * no-op. */
void noa_tls_server_free(struct noa_tls_server *t);

/* A new server-side connection in handshake state. Returns 0 or
 * NOA_ENOMEM. */
int noa_tls_server_conn_new(struct noa_tls_server *t, struct noa_tls_server_conn **out);

/* Frees the connection's SSL object and buffers. NULL is a no-op. */
void noa_tls_server_conn_free(struct noa_tls_server_conn *c);

/*
 * Feeds len bytes received from the peer: runs the handshake, and appends
 * every byte of application data they complete to plain. Bytes the
 * connection must send (handshake messages, alerts) wait for
 * noa_tls_server_conn_take_output, also after a failure. Returns
 * NOA_TLS_SERVER_OK, NOA_TLS_SERVER_EOF (close_notify; later input is
 * ignored), NOA_TLS_SERVER_PLAIN_HTTP (a plain HTTP request on the TLS
 * port: answer NOA_TLS_SERVER_PLAIN_HTTP_REPLY and close), or NOA_EINVAL
 * when the handshake or a record failed (noa_tls_server_conn_error says
 * why; the connection is dead).
 */
int noa_tls_server_conn_input(struct noa_tls_server_conn *c, const char *data, size_t len,
                              struct noa_buf *plain);

/*
 * Encrypts len bytes of application data (after the handshake; the HTTP
 * server writes only in answer to a request). The records wait for
 * noa_tls_server_conn_take_output. Returns 0 or NOA_EINVAL when the
 * connection failed or is shut down (the data is dropped).
 */
int noa_tls_server_conn_write(struct noa_tls_server_conn *c, const void *data, size_t len);

/* Queues a close_notify alert (a graceful end of our side); no-op when
 * the handshake did not complete or the connection failed. */
void noa_tls_server_conn_shutdown(struct noa_tls_server_conn *c);

/* Bytes waiting to be sent to the peer. */
size_t noa_tls_server_conn_pending(const struct noa_tls_server_conn *c);

/* Takes every byte waiting to be sent: returns a noa_malloc'ed buffer the
 * caller frees (NULL when nothing waits, *len then 0). */
char *noa_tls_server_conn_take_output(struct noa_tls_server_conn *c, size_t *len);

/* 1 once the handshake completed. */
int noa_tls_server_conn_established(const struct noa_tls_server_conn *c);

/* Why the connection failed ("" when it did not). Borrowed until freed. */
const char *noa_tls_server_conn_error(const struct noa_tls_server_conn *c);

#endif
