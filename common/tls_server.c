/*
 * Server-side TLS over memory BIOs (behaviour in tls_server.h).
 *
 * The one adapter for OpenSSL's server API: owns the SSL_CTX built from the
 * configured files and, per connection, an SSL object whose read BIO gets
 * the bytes the socket delivered and whose write BIO collects the bytes to
 * send, and the certificate reload on rotation. No sockets here: the
 * caller moves bytes. Everything on the loop thread; the context is built
 * at start-up.
 */
#include "common/tls_server.h"
#include "common/log.h"
#include "common/mem.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Plaintext is read in steps of at most one TLS record. */
#define READ_STEP 16384
/* How often the certificate files are checked for a rotation. */
#define RELOAD_CHECK_MS 1000

/* What a file looked like when it was loaded: a change means a rotation. */
struct file_sig {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct noa_tls_server {
    SSL_CTX *ctx;
    enum noa_tls_server_client_auth auth;
    /* Certificate rotation: the files are looked at again, at most once per
     * RELOAD_CHECK_MS, when a handshake starts (Loki reads them per
     * handshake). */
    char *cert_file, *key_file;
    struct file_sig cert_sig, key_sig;
    uint64_t checked_ms;  /* CLOCK_MONOTONIC, ms */
    char reload_err[512]; /* the last failed reload, logged once */
};

struct noa_tls_server_conn {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    int established, failed, eof, shut;
    unsigned char first[5]; /* the first bytes, to recognise plain HTTP */
    size_t seen;
    char err[256];
};

static const struct {
    const char *name;
    enum noa_tls_server_client_auth auth;
} auth_names[] = {
    {"", NOA_TLS_SERVER_NO_CLIENT_CERT},
    {"NoClientCert", NOA_TLS_SERVER_NO_CLIENT_CERT},
    {"RequestClientCert", NOA_TLS_SERVER_REQUEST_CLIENT_CERT},
    {"RequireAnyClientCert", NOA_TLS_SERVER_REQUIRE_ANY_CLIENT_CERT},
    /* exporter-toolkit keeps this older spelling working. */
    {"RequireClientCert", NOA_TLS_SERVER_REQUIRE_ANY_CLIENT_CERT},
    {"VerifyClientCertIfGiven", NOA_TLS_SERVER_VERIFY_CLIENT_CERT_IF_GIVEN},
    {"RequireAndVerifyClientCert", NOA_TLS_SERVER_REQUIRE_AND_VERIFY_CLIENT_CERT},
};

int noa_tls_server_parse_client_auth(const char *name, enum noa_tls_server_client_auth *out)
{
    if (!name)
        name = "";
    for (size_t i = 0; i < sizeof(auth_names) / sizeof(auth_names[0]); i++) {
        if (strcmp(name, auth_names[i].name) == 0) {
            *out = auth_names[i].auth;
            return 0;
        }
    }
    return NOA_EINVAL;
}

/* OpenSSL's most recent reason, or fallback when its queue is empty. */
static const char *ssl_reason(char *buf, size_t cap, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    if (!e) {
        snprintf(buf, cap, "%s", fallback);
    } else {
        const char *r = ERR_reason_error_string(e);
        if (r)
            snprintf(buf, cap, "%s", r);
        else
            ERR_error_string_n(e, buf, cap);
    }
    ERR_clear_error();
    return buf;
}

/* A readable file, or an error naming it (OpenSSL's own messages for a
 * missing file are cryptic). */
static int check_file(const char *what, const char *path, struct noa_error *err)
{
    if (access(path, R_OK) != 0)
        return noa_error_set(err, NOA_EINVAL, "%s %s: %s", what, path, strerror(errno));
    return 0;
}

/* Go does not verify certificates under these two policies: accept
 * whatever chain the client sends. */
static int accept_any_cb(int preverify_ok, X509_STORE_CTX *store)
{
    (void)preverify_ok;
    (void)store;
    return 1;
}

/* Offers only HTTP/1.1: the server speaks nothing else. A client that
 * proposes only other protocols proceeds without ALPN, as with Go when
 * no common protocol exists and h2 is off. */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char h11[] = "http/1.1";
    for (unsigned i = 0; i < inlen;) {
        unsigned n = in[i];
        if (i + 1 + n > inlen)
            break;
        if (n == 8 && memcmp(in + i + 1, h11, 8) == 0) {
            *out = in + i + 1;
            *outlen = (unsigned char)n;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + n;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* Encrypted keys are not supported: never prompt on a terminal. */
static int no_password_cb(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

static int file_sig_get(const char *path, struct file_sig *sig)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -errno;
    *sig = (struct file_sig){st.st_dev, st.st_ino, st.st_size, st.st_mtim};
    return 0;
}

static int file_sig_eq(const struct file_sig *a, const struct file_sig *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Reads the certificate (leaf first, then its chain) and the matching key.
 * Everything is checked before anything is used, so a half-written
 * rotation never replaces a working pair. */
static int load_pair(const char *cert_file, const char *key_file, X509 **leaf,
                     STACK_OF(X509) * *chain, EVP_PKEY **key, struct noa_error *err)
{
    char why[200];
    int rc = NOA_EINVAL;
    BIO *b = NULL;
    X509 *x = NULL;
    *leaf = NULL;
    *chain = NULL;
    *key = NULL;
    ERR_clear_error();
    if (!(b = BIO_new_file(cert_file, "r")) ||
        !(*leaf = PEM_read_bio_X509_AUX(b, NULL, no_password_cb, NULL))) {
        noa_error_set(err, rc, "cert_file %s: %s", cert_file,
                      ssl_reason(why, sizeof(why), "no certificate found"));
        goto fail;
    }
    *chain = sk_X509_new_null();
    while ((x = PEM_read_bio_X509(b, NULL, no_password_cb, NULL)) != NULL) {
        if (!sk_X509_push(*chain, x)) {
            X509_free(x);
            rc = noa_error_set(err, NOA_ENOMEM, "cert_file %s: out of memory", cert_file);
            goto fail;
        }
    }
    /* The loop ends on "no more PEM blocks", which is no error. */
    ERR_clear_error();
    BIO_free(b);
    if (!(b = BIO_new_file(key_file, "r")) ||
        !(*key = PEM_read_bio_PrivateKey(b, NULL, no_password_cb, NULL))) {
        noa_error_set(err, rc, "key_file %s: %s", key_file,
                      ssl_reason(why, sizeof(why), "no private key found"));
        goto fail;
    }
    if (X509_check_private_key(*leaf, *key) != 1) {
        ERR_clear_error();
        noa_error_set(err, rc, "key_file %s does not match cert_file %s", key_file, cert_file);
        goto fail;
    }
    BIO_free(b);
    return 0;
fail:
    BIO_free(b);
    X509_free(*leaf);
    sk_X509_pop_free(*chain, X509_free);
    EVP_PKEY_free(*key);
    *leaf = NULL;
    *chain = NULL;
    *key = NULL;
    return rc;
}

/* Loads the pair into ctx (and ssl when not NULL). */
static int use_pair(struct noa_tls_server *t, SSL *ssl, struct noa_error *err)
{
    X509 *leaf;
    STACK_OF(X509) * chain;
    EVP_PKEY *key;
    int rc = load_pair(t->cert_file, t->key_file, &leaf, &chain, &key, err);
    if (rc)
        return rc;
    char why[200];
    if (SSL_CTX_use_cert_and_key(t->ctx, leaf, key, chain, 1) != 1 ||
        (ssl && SSL_use_cert_and_key(ssl, leaf, key, chain, 1) != 1))
        rc = noa_error_set(err, NOA_EINVAL, "cert_file %s: %s", t->cert_file,
                           ssl_reason(why, sizeof(why), "certificate refused"));
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    return rc;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs as a handshake starts: picks up rotated certificate files. A
 * rotation that does not load keeps the previous pair (logged once). */
static int cert_cb(SSL *ssl, void *arg)
{
    struct noa_tls_server *t = arg;
    uint64_t now = now_ms();
    if (now - t->checked_ms < RELOAD_CHECK_MS)
        return 1;
    t->checked_ms = now;
    struct file_sig cs, ks;
    if (file_sig_get(t->cert_file, &cs) != 0 || file_sig_get(t->key_file, &ks) != 0 ||
        (file_sig_eq(&cs, &t->cert_sig) && file_sig_eq(&ks, &t->key_sig)))
        return 1;
    struct noa_error err = {0};
    if (use_pair(t, ssl, &err) != 0) {
        if (strcmp(err.msg, t->reload_err) != 0) {
            snprintf(t->reload_err, sizeof(t->reload_err), "%s", err.msg);
            noa_log(NOA_LOG_WARN, "tls",
                    "msg=\"rotated certificate not loaded; keeping the previous one\" err=\"%s\"",
                    err.msg);
        }
        return 1;
    }
    t->cert_sig = cs;
    t->key_sig = ks;
    t->reload_err[0] = '\0';
    noa_log(NOA_LOG_INFO, "tls", "msg=\"certificate reloaded\" cert_file=%s", t->cert_file);
    return 1;
}

static int set_min_version(SSL_CTX *ctx, const char *v, struct noa_error *err)
{
    int ver = TLS1_2_VERSION;
    if (v && strcmp(v, "VersionTLS13") == 0)
        ver = TLS1_3_VERSION;
    else if (v && *v && strcmp(v, "VersionTLS12") != 0 && strcmp(v, "VersionTLS11") != 0 &&
             strcmp(v, "VersionTLS10") != 0)
        return noa_error_set(err, NOA_EINVAL,
                             "unknown TLS version: %s (VersionTLS10, VersionTLS11, "
                             "VersionTLS12 or VersionTLS13)",
                             v);
    if (!SSL_CTX_set_min_proto_version(ctx, ver))
        return noa_error_set(err, NOA_EINVAL, "cannot set the minimum TLS version");
    return 0;
}

static int load_client_cas(struct noa_tls_server *t, const char *ca, struct noa_error *err)
{
    char why[200];
    if (SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1)
        return noa_error_set(err, NOA_EINVAL, "client_ca_file %s: %s", ca,
                             ssl_reason(why, sizeof(why), "no certificate found"));
    /* The CA names go into the CertificateRequest, as Go sends them. */
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
    if (!names)
        return noa_error_set(err, NOA_EINVAL, "client_ca_file %s: %s", ca,
                             ssl_reason(why, sizeof(why), "no certificate found"));
    SSL_CTX_set_client_CA_list(t->ctx, names);
    return 0;
}

static void set_verify(struct noa_tls_server *t)
{
    switch (t->auth) {
    case NOA_TLS_SERVER_NO_CLIENT_CERT:
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
        break;
    case NOA_TLS_SERVER_REQUEST_CLIENT_CERT:
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, accept_any_cb);
        break;
    case NOA_TLS_SERVER_REQUIRE_ANY_CLIENT_CERT:
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                           accept_any_cb);
        break;
    case NOA_TLS_SERVER_VERIFY_CLIENT_CERT_IF_GIVEN:
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
        break;
    case NOA_TLS_SERVER_REQUIRE_AND_VERIFY_CLIENT_CERT:
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        break;
    }
}

int noa_tls_server_new(const struct noa_tls_server_options *o, struct noa_tls_server **out,
                       struct noa_error *err)
{
    char why[200];
    int rc;
    struct noa_tls_server *t = noa_xcalloc(1, sizeof(*t));
    const char *ca = o->client_ca_file && *o->client_ca_file ? o->client_ca_file : NULL;
    if (!o->cert_file || !*o->cert_file) {
        rc = noa_error_set(err, NOA_EINVAL, "missing cert_file");
        goto fail;
    }
    if (!o->key_file || !*o->key_file) {
        rc = noa_error_set(err, NOA_EINVAL, "missing key_file");
        goto fail;
    }
    if (noa_tls_server_parse_client_auth(o->client_auth_type, &t->auth) != 0) {
        rc = noa_error_set(err, NOA_EINVAL, "Invalid ClientAuth: %s", o->client_auth_type);
        goto fail;
    }
    if (ca && t->auth == NOA_TLS_SERVER_NO_CLIENT_CERT) {
        rc = noa_error_set(err, NOA_EINVAL,
                           "Client CA's have been configured without a Client Auth Policy");
        goto fail;
    }
    if ((rc = check_file("cert_file", o->cert_file, err)) != 0 ||
        (rc = check_file("key_file", o->key_file, err)) != 0 ||
        (ca && (rc = check_file("client_ca_file", ca, err)) != 0))
        goto fail;
    ERR_clear_error();
    t->ctx = SSL_CTX_new(TLS_server_method());
    if (!t->ctx) {
        rc = noa_error_set(err, NOA_EINTERNAL, "SSL_CTX_new: %s",
                           ssl_reason(why, sizeof(why), "failed"));
        goto fail;
    }
    if ((rc = set_min_version(t->ctx, o->min_version, err)) != 0)
        goto fail;
    t->cert_file = noa_xstrdup(o->cert_file);
    t->key_file = noa_xstrdup(o->key_file);
    /* Signatures first: a rotation racing this load is seen next time. */
    if (file_sig_get(t->cert_file, &t->cert_sig) != 0 ||
        file_sig_get(t->key_file, &t->key_sig) != 0) {
        rc = noa_error_set(err, NOA_EINVAL, "cert_file %s or key_file %s: %s", t->cert_file,
                           t->key_file, strerror(errno));
        goto fail;
    }
    if ((rc = use_pair(t, NULL, err)) != 0)
        goto fail;
    t->checked_ms = now_ms();
    if (ca) {
        if ((rc = load_client_cas(t, ca, err)) != 0)
            goto fail;
    } else if (t->auth >= NOA_TLS_SERVER_VERIFY_CLIENT_CERT_IF_GIVEN) {
        /* Go verifies against the system roots when no CA is given. */
        SSL_CTX_set_default_verify_paths(t->ctx);
    }
    set_verify(t);
    /* Client-initiated renegotiation is a cheap CPU attack; Go refuses it
     * too. Session resumption needs an id context when certificates are
     * verified. */
    SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_id_context(t->ctx, (const unsigned char *)"noa", 3);
    /* Idle keep-alive connections do not need 34 KiB of buffers each. */
    SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(t->ctx, alpn_cb, NULL);
    SSL_CTX_set_default_passwd_cb(t->ctx, no_password_cb);
    SSL_CTX_set_cert_cb(t->ctx, cert_cb, t);
    *out = t;
    return 0;
fail:
    noa_tls_server_free(t);
    return rc;
}

void noa_tls_server_free(struct noa_tls_server *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    noa_free(t->cert_file);
    noa_free(t->key_file);
    noa_free(t);
}

int noa_tls_server_conn_new(struct noa_tls_server *t, struct noa_tls_server_conn **out)
{
    struct noa_tls_server_conn *c = noa_xcalloc(1, sizeof(*c));
    ERR_clear_error();
    c->ssl = SSL_new(t->ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (!c->ssl || !c->rbio || !c->wbio) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        SSL_free(c->ssl);
        noa_free(c);
        ERR_clear_error();
        return NOA_ENOMEM;
    }
    /* An empty read BIO means "wait for more", never end of stream. */
    BIO_set_mem_eof_return(c->rbio, -1);
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_accept_state(c->ssl);
    *out = c;
    return 0;
}

void noa_tls_server_conn_free(struct noa_tls_server_conn *c)
{
    if (!c)
        return;
    SSL_free(c->ssl);
    noa_free(c);
}

/* The 5-byte prefixes Go's server takes for plain HTTP on a TLS port. */
static int looks_like_http(const unsigned char *h)
{
    static const char *const starts[] = {"GET /", "HEAD ", "POST ", "PUT /", "OPTIO"};
    for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
        if (memcmp(h, starts[i], 5) == 0)
            return 1;
    return 0;
}

/* Marks the connection failed with OpenSSL's reason for ssl_error. */
static int conn_fail(struct noa_tls_server_conn *c, int ssl_error)
{
    char why[200];
    long vr = SSL_get_verify_result(c->ssl);
    c->failed = 1;
    /* Under the policies that do not verify, the result means nothing. */
    if (vr != X509_V_OK && SSL_get_verify_callback(c->ssl) != accept_any_cb) {
        snprintf(c->err, sizeof(c->err), "client certificate: %s",
                 X509_verify_cert_error_string(vr));
        ERR_clear_error();
    } else {
        char fallback[48];
        snprintf(fallback, sizeof(fallback), "TLS error %d", ssl_error);
        snprintf(c->err, sizeof(c->err), "%s", ssl_reason(why, sizeof(why), fallback));
    }
    return NOA_EINVAL;
}

/* Reads every byte of application data available into plain. */
static int drain_plain(struct noa_tls_server_conn *c, struct noa_buf *plain)
{
    for (;;) {
        noa_buf_reserve(plain, READ_STEP);
        int n = SSL_read(c->ssl, plain->data + plain->len, READ_STEP);
        if (n > 0) {
            plain->len += (size_t)n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return NOA_TLS_SERVER_OK;
        if (e == SSL_ERROR_ZERO_RETURN) {
            c->eof = 1;
            return NOA_TLS_SERVER_EOF;
        }
        return conn_fail(c, e);
    }
}

int noa_tls_server_conn_input(struct noa_tls_server_conn *c, const char *data, size_t len,
                              struct noa_buf *plain)
{
    if (c->failed)
        return NOA_EINVAL;
    if (c->eof)
        return NOA_TLS_SERVER_EOF;
    if (c->seen < sizeof(c->first)) {
        size_t n = sizeof(c->first) - c->seen;
        if (n > len)
            n = len;
        memcpy(c->first + c->seen, data, n);
        c->seen += n;
        if (c->seen == sizeof(c->first) && looks_like_http(c->first)) {
            c->failed = 1;
            snprintf(c->err, sizeof(c->err), "client sent an HTTP request to an HTTPS server");
            return NOA_TLS_SERVER_PLAIN_HTTP;
        }
    }
    ERR_clear_error();
    while (len) {
        int step = len > INT_MAX / 2 ? INT_MAX / 2 : (int)len;
        int w = BIO_write(c->rbio, data, step);
        if (w <= 0)
            return conn_fail(c, SSL_ERROR_SYSCALL);
        data += w;
        len -= (size_t)w;
    }
    if (!c->established) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return NOA_TLS_SERVER_OK;
            return conn_fail(c, e);
        }
        c->established = 1;
    }
    return drain_plain(c, plain);
}

int noa_tls_server_conn_write(struct noa_tls_server_conn *c, const void *data, size_t len)
{
    if (c->failed || c->shut || !c->established)
        return NOA_EINVAL;
    const char *p = data;
    ERR_clear_error();
    while (len) {
        int step = len > INT_MAX / 2 ? INT_MAX / 2 : (int)len;
        int n = SSL_write(c->ssl, p, step);
        if (n <= 0)
            return conn_fail(c, SSL_get_error(c->ssl, n));
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void noa_tls_server_conn_shutdown(struct noa_tls_server_conn *c)
{
    if (c->failed || c->shut || !c->established)
        return;
    c->shut = 1;
    ERR_clear_error();
    /* Sends close_notify; the peer's answer is not awaited (Go neither). */
    (void)SSL_shutdown(c->ssl);
    ERR_clear_error();
}

size_t noa_tls_server_conn_pending(const struct noa_tls_server_conn *c)
{
    return BIO_ctrl_pending(c->wbio);
}

char *noa_tls_server_conn_take_output(struct noa_tls_server_conn *c, size_t *len)
{
    size_t n = BIO_ctrl_pending(c->wbio);
    *len = 0;
    if (!n)
        return NULL;
    char *out = noa_xmalloc(n);
    size_t got = 0;
    while (got < n) {
        int step = n - got > INT_MAX / 2 ? INT_MAX / 2 : (int)(n - got);
        int r = BIO_read(c->wbio, out + got, step);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (!got) {
        noa_free(out);
        return NULL;
    }
    *len = got;
    return out;
}

int noa_tls_server_conn_established(const struct noa_tls_server_conn *c)
{
    return c->established;
}

const char *noa_tls_server_conn_error(const struct noa_tls_server_conn *c)
{
    return c->err;
}
