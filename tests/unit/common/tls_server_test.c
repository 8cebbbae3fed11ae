/*
 * Tests for common/tls_server: client_auth_type names, start-up errors that
 * name the file, a handshake and an HTTP exchange through memory buffers
 * against an OpenSSL client in the same process (close_notify both ways),
 * garbage and plain-HTTP first bytes, every client_auth_type policy with
 * and without a client certificate, the minimum version, certificate
 * rotation; then the real common/http_server over TLS on 127.0.0.1 (loop on
 * the main thread, a blocking OpenSSL client on another): a request,
 * keep-alive, a refused handshake, a 6 MiB reply (back-pressure) and plain
 * HTTP on the TLS port. Certificates are made here with OpenSSL's API (an
 * EC CA signing a server and a client certificate).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/http_server.h"
#include "common/mem.h"
#include "common/tls_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- certificates ------------------------------------------------------ */

static char dir[64];
static char ca_pem[128], srv_cert[128], srv_key[128], cli_cert[128], cli_key[128];
static char self_cert[128], self_key[128]; /* a client certificate no CA signed */

static EVP_PKEY *new_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    return k;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

/* A certificate for cn and key, signed by issuer (NULL: self-signed). */
static X509 *new_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, int ca,
                      long serial)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    add_ext(x, issuer ? issuer : x, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    if (!ca)
        add_ext(x, issuer ? issuer : x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

static void write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (x)
        PEM_write_X509(f, x);
    if (k)
        PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
}

static int make_certs(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/noa_tls_test_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", dir);
    snprintf(srv_cert, sizeof(srv_cert), "%s/server.pem", dir);
    snprintf(srv_key, sizeof(srv_key), "%s/server.key", dir);
    snprintf(cli_cert, sizeof(cli_cert), "%s/client.pem", dir);
    snprintf(cli_key, sizeof(cli_key), "%s/client.key", dir);
    snprintf(self_cert, sizeof(self_cert), "%s/self.pem", dir);
    snprintf(self_key, sizeof(self_key), "%s/self.key", dir);
    EVP_PKEY *cak = new_key(), *sk = new_key(), *ck = new_key(), *xk = new_key();
    X509 *ca = new_cert("noa test CA", cak, NULL, NULL, 1, 1);
    X509 *sc = new_cert("localhost", sk, ca, cak, 0, 2);
    X509 *cc = new_cert("client", ck, ca, cak, 0, 3);
    X509 *xc = new_cert("stranger", xk, NULL, NULL, 0, 4);
    write_pem(ca_pem, ca, NULL);
    write_pem(srv_cert, sc, NULL);
    write_pem(srv_key, NULL, sk);
    write_pem(cli_cert, cc, NULL);
    write_pem(cli_key, NULL, ck);
    write_pem(self_cert, xc, NULL);
    write_pem(self_key, NULL, xk);
    X509_free(ca);
    X509_free(sc);
    X509_free(cc);
    X509_free(xc);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(sk);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(xk);
    return 0;
}

static int remove_certs(void **state)
{
    (void)state;
    const char *files[] = {ca_pem, srv_cert, srv_key, cli_cert, cli_key, self_cert, self_key};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        unlink(files[i]);
    rmdir(dir);
    return 0;
}

static struct noa_tls_server *server_ctx(const char *auth, const char *ca, const char *minv)
{
    struct noa_tls_server *t = NULL;
    struct noa_error err = {0};
    struct noa_tls_server_options o = {.cert_file = srv_cert,
                                       .key_file = srv_key,
                                       .client_auth_type = auth,
                                       .client_ca_file = ca,
                                       .min_version = minv};
    int rc = noa_tls_server_new(&o, &t, &err);
    if (rc != 0)
        fail_msg("noa_tls_server_new: %s", err.msg);
    return t;
}

/* ---- an in-memory client ------------------------------------------------ */

struct pair {
    SSL_CTX *cctx;
    SSL *cli;
    BIO *c_in, *c_out; /* the client's read and write BIOs */
    struct noa_tls_server_conn *srv;
    struct noa_buf plain; /* what the server decrypted */
    int last_rc;          /* the server's last input result */
};

static void pair_init(struct pair *p, struct noa_tls_server *t, const char *cert, const char *key,
                      int max_version)
{
    memset(p, 0, sizeof(*p));
    p->cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(p->cctx);
    assert_int_equal(SSL_CTX_load_verify_locations(p->cctx, ca_pem, NULL), 1);
    SSL_CTX_set_verify(p->cctx, SSL_VERIFY_PEER, NULL);
    if (max_version)
        SSL_CTX_set_max_proto_version(p->cctx, max_version);
    if (max_version && max_version < TLS1_2_VERSION) {
        SSL_CTX_set_min_proto_version(p->cctx, max_version);
        SSL_CTX_set_security_level(p->cctx, 0);
    }
    if (cert) {
        assert_int_equal(SSL_CTX_use_certificate_file(p->cctx, cert, SSL_FILETYPE_PEM), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(p->cctx, key, SSL_FILETYPE_PEM), 1);
    }
    p->cli = SSL_new(p->cctx);
    p->c_in = BIO_new(BIO_s_mem());
    p->c_out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(p->c_in, -1);
    SSL_set_bio(p->cli, p->c_in, p->c_out);
    SSL_set_connect_state(p->cli);
    SSL_set_tlsext_host_name(p->cli, "localhost");
    SSL_set1_host(p->cli, "localhost");
    assert_int_equal(noa_tls_server_conn_new(t, &p->srv), 0);
}

static void pair_fini(struct pair *p)
{
    SSL_free(p->cli);
    SSL_CTX_free(p->cctx);
    noa_tls_server_conn_free(p->srv);
    noa_buf_fini(&p->plain);
    ERR_clear_error();
}

/* Moves bytes both ways until neither side has any; returns 1 when some moved. */
static int pump(struct pair *p)
{
    int moved = 0;
    for (;;) {
        char buf[65536];
        int n = BIO_read(p->c_out, buf, sizeof(buf));
        size_t len = 0;
        char *out = NULL;
        if (n > 0)
            p->last_rc = noa_tls_server_conn_input(p->srv, buf, (size_t)n, &p->plain);
        out = noa_tls_server_conn_take_output(p->srv, &len);
        if (out)
            BIO_write(p->c_in, out, (int)len);
        noa_free(out);
        if (n <= 0 && !out)
            return moved;
        moved = 1;
    }
}

/* Runs the client's handshake against the server; 1 when it completed on
 * both sides. */
static int handshake(struct pair *p)
{
    for (int i = 0; i < 20; i++) {
        int r = SSL_do_handshake(p->cli);
        /* Asked before pump: it looks at the client's BIOs and errors. */
        int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(p->cli, r);
        pump(p);
        if (r == 1) {
            /* TLS 1.3: the server learns the outcome from the client's
             * Finished (and its certificate), pumped just above; a refusal
             * reaches the client as an alert on its first read. */
            char b[1];
            SSL_read(p->cli, b, 0);
            pump(p);
            return p->last_rc >= 0 && noa_tls_server_conn_established(p->srv);
        }
        if (e != SSL_ERROR_WANT_READ)
            return 0;
    }
    return 0;
}

/* ---- tests: configuration ----------------------------------------------- */

static void test_client_auth_names(void **state)
{
    (void)state;
    enum noa_tls_server_client_auth a = 99;
    assert_int_equal(noa_tls_server_parse_client_auth(NULL, &a), 0);
    assert_int_equal(a, NOA_TLS_SERVER_NO_CLIENT_CERT);
    assert_int_equal(noa_tls_server_parse_client_auth("NoClientCert", &a), 0);
    assert_int_equal(a, NOA_TLS_SERVER_NO_CLIENT_CERT);
    assert_int_equal(noa_tls_server_parse_client_auth("RequestClientCert", &a), 0);
    assert_int_equal(a, NOA_TLS_SERVER_REQUEST_CLIENT_CERT);
    assert_int_equal(noa_tls_server_parse_client_auth("RequireAnyClientCert", &a), 0);
    assert_int_equal(a, NOA_TLS_SERVER_REQUIRE_ANY_CLIENT_CERT);
    assert_int_equal(noa_tls_server_parse_client_auth("RequireClientCert", &a), 0);
    assert_int_equal(a, NOA_TLS_SERVER_REQUIRE_ANY_CLIENT_CERT);
    assert_int_equal(noa_tls_server_parse_client_auth("VerifyClientCertIfGiven", &a), 0);
    assert_int_equal(a, NOA_TLS_SERVER_VERIFY_CLIENT_CERT_IF_GIVEN);
    assert_int_equal(noa_tls_server_parse_client_auth("RequireAndVerifyClientCert", &a), 0);
    assert_int_equal(a, NOA_TLS_SERVER_REQUIRE_AND_VERIFY_CLIENT_CERT);
    assert_int_equal(noa_tls_server_parse_client_auth("requireandverifyclientcert", &a),
                     NOA_EINVAL);
    assert_int_equal(noa_tls_server_parse_client_auth("Verify", &a), NOA_EINVAL);
}

static void expect_new_error(const struct noa_tls_server_options *o, const char *needle)
{
    struct noa_tls_server *t = NULL;
    struct noa_error err = {0};
    assert_int_equal(noa_tls_server_new(o, &t, &err), NOA_EINVAL);
    assert_null(t);
    if (!strstr(err.msg, needle))
        fail_msg("error \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_startup_errors_name_the_file(void **state)
{
    (void)state;
    char missing[160], garbage[160];
    snprintf(missing, sizeof(missing), "%s/nope.pem", dir);
    snprintf(garbage, sizeof(garbage), "%s/garbage.pem", dir);
    FILE *f = fopen(garbage, "w");
    assert_non_null(f);
    fputs("not a certificate\n", f);
    fclose(f);
    expect_new_error(&(struct noa_tls_server_options){.key_file = srv_key}, "missing cert_file");
    expect_new_error(&(struct noa_tls_server_options){.cert_file = srv_cert}, "missing key_file");
    expect_new_error(&(struct noa_tls_server_options){.cert_file = missing, .key_file = srv_key},
                     missing);
    expect_new_error(&(struct noa_tls_server_options){.cert_file = srv_cert, .key_file = missing},
                     "key_file");
    expect_new_error(&(struct noa_tls_server_options){.cert_file = garbage, .key_file = srv_key},
                     garbage);
    expect_new_error(&(struct noa_tls_server_options){.cert_file = srv_cert, .key_file = garbage},
                     garbage);
    /* The client's key does not belong to the server's certificate. */
    expect_new_error(&(struct noa_tls_server_options){.cert_file = srv_cert, .key_file = cli_key},
                     "does not match");
    expect_new_error(&(struct noa_tls_server_options){.cert_file = srv_cert,
                                                      .key_file = srv_key,
                                                      .client_auth_type = "Sometimes"},
                     "Invalid ClientAuth: Sometimes");
    expect_new_error(&(struct noa_tls_server_options){.cert_file = srv_cert,
                                                      .key_file = srv_key,
                                                      .client_ca_file = ca_pem},
                     "without a Client Auth Policy");
    expect_new_error(
        &(struct noa_tls_server_options){.cert_file = srv_cert,
                                         .key_file = srv_key,
                                         .client_auth_type = "RequireAndVerifyClientCert",
                                         .client_ca_file = garbage},
        garbage);
    expect_new_error(&(struct noa_tls_server_options){.cert_file = srv_cert,
                                                      .key_file = srv_key,
                                                      .min_version = "TLS9"},
                     "unknown TLS version");
    unlink(garbage);
}

/* ---- tests: the exchange ------------------------------------------------ */

static void test_handshake_and_http_exchange(void **state)
{
    (void)state;
    struct noa_tls_server *t = server_ctx(NULL, NULL, NULL);
    struct pair p;
    pair_init(&p, t, NULL, NULL, 0);
    /* Nothing may be written before the handshake. */
    assert_int_equal(noa_tls_server_conn_write(p.srv, "x", 1), NOA_EINVAL);
    assert_true(handshake(&p));
    assert_int_equal(SSL_get_verify_result(p.cli), X509_V_OK);
    assert_int_equal(SSL_version(p.cli), TLS1_3_VERSION);

    static const char req[] = "GET /ready HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(SSL_write(p.cli, req, (int)strlen(req)), (int)strlen(req));
    pump(&p);
    assert_int_equal(p.last_rc, NOA_TLS_SERVER_OK);
    assert_int_equal(p.plain.len, strlen(req));
    assert_memory_equal(p.plain.data, req, strlen(req));

    /* A large response crosses many records and arrives whole. */
    size_t big = 200000;
    char *body = malloc(big);
    for (size_t i = 0; i < big; i++)
        body[i] = (char)('a' + i % 26);
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n";
    assert_int_equal(noa_tls_server_conn_write(p.srv, head, strlen(head)), 0);
    assert_int_equal(noa_tls_server_conn_write(p.srv, body, big), 0);
    assert_true(noa_tls_server_conn_pending(p.srv) > big);
    pump(&p);
    assert_int_equal(noa_tls_server_conn_pending(p.srv), 0);
    char *got = malloc(big + 100);
    size_t n = 0;
    int r;
    while ((r = SSL_read(p.cli, got + n, (int)(big + 100 - n))) > 0)
        n += (size_t)r;
    assert_int_equal(n, strlen(head) + big);
    assert_memory_equal(got, head, strlen(head));
    assert_memory_equal(got + strlen(head), body, big);

    /* Our close_notify reaches the client; writes after it are refused. */
    noa_tls_server_conn_shutdown(p.srv);
    pump(&p);
    assert_int_equal(SSL_read(p.cli, got, 10), 0);
    assert_int_equal(SSL_get_error(p.cli, 0), SSL_ERROR_ZERO_RETURN);
    assert_int_equal(noa_tls_server_conn_write(p.srv, "x", 1), NOA_EINVAL);

    /* The client's close_notify is the end of input. */
    SSL_shutdown(p.cli);
    pump(&p);
    assert_int_equal(p.last_rc, NOA_TLS_SERVER_EOF);
    assert_int_equal(noa_tls_server_conn_input(p.srv, "zz", 2, &p.plain), NOA_TLS_SERVER_EOF);
    free(body);
    free(got);
    pair_fini(&p);
    noa_tls_server_free(t);
}

/* Records split at every byte still decrypt to the same bytes. */
static void test_byte_by_byte(void **state)
{
    (void)state;
    struct noa_tls_server *t = server_ctx(NULL, NULL, "VersionTLS12");
    struct pair p;
    pair_init(&p, t, NULL, NULL, TLS1_2_VERSION);
    int r = 0;
    for (int i = 0; i < 20 && r != 1; i++) {
        r = SSL_do_handshake(p.cli);
        char buf[8192];
        int n = BIO_read(p.c_out, buf, sizeof(buf));
        for (int k = 0; k < n; k++)
            assert_true(noa_tls_server_conn_input(p.srv, buf + k, 1, &p.plain) >= 0);
        pump(&p);
    }
    assert_int_equal(r, 1);
    assert_int_equal(SSL_version(p.cli), TLS1_2_VERSION);
    assert_true(noa_tls_server_conn_established(p.srv));
    SSL_write(p.cli, "hello, world", 12);
    char buf[256];
    int n = BIO_read(p.c_out, buf, sizeof(buf));
    assert_true(n > 12);
    for (int k = 0; k < n; k++)
        assert_int_equal(noa_tls_server_conn_input(p.srv, buf + k, 1, &p.plain), 0);
    assert_int_equal(p.plain.len, 12);
    assert_memory_equal(p.plain.data, "hello, world", 12);
    pair_fini(&p);
    noa_tls_server_free(t);
}

static void test_garbage_client_hello_fails_cleanly(void **state)
{
    (void)state;
    struct noa_tls_server *t = server_ctx(NULL, NULL, NULL);
    struct noa_tls_server_conn *c = NULL;
    struct noa_buf plain = {0};
    /* A handshake record header followed by nonsense. */
    static const unsigned char bad[] = {0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00,
                                        0x00, 0x04, 0xde, 0xad, 0xbe, 0xef};
    assert_int_equal(noa_tls_server_conn_new(t, &c), 0);
    assert_int_equal(noa_tls_server_conn_input(c, (const char *)bad, sizeof(bad), &plain),
                     NOA_EINVAL);
    assert_true(strlen(noa_tls_server_conn_error(c)) > 0);
    assert_int_equal(plain.len, 0);
    assert_false(noa_tls_server_conn_established(c));
    /* An alert may wait; the connection stays dead. */
    size_t len;
    noa_free(noa_tls_server_conn_take_output(c, &len));
    assert_int_equal(noa_tls_server_conn_input(c, "x", 1, &plain), NOA_EINVAL);
    assert_int_equal(noa_tls_server_conn_write(c, "x", 1), NOA_EINVAL);
    noa_tls_server_conn_shutdown(c);
    assert_int_equal(noa_tls_server_conn_pending(c), 0);
    noa_tls_server_conn_free(c);

    /* Not a TLS record at all. */
    assert_int_equal(noa_tls_server_conn_new(t, &c), 0);
    assert_int_equal(noa_tls_server_conn_input(c, "\x01\x02\x03\x04\x05\x06", 6, &plain),
                     NOA_EINVAL);
    noa_tls_server_conn_free(c);

    /* Plain HTTP is recognised, even when its first bytes come apart. */
    assert_int_equal(noa_tls_server_conn_new(t, &c), 0);
    assert_int_equal(noa_tls_server_conn_input(c, "GE", 2, &plain), NOA_TLS_SERVER_OK);
    assert_int_equal(noa_tls_server_conn_input(c, "T / HTTP/1.1\r\n", 14, &plain),
                     NOA_TLS_SERVER_PLAIN_HTTP);
    assert_int_equal(noa_tls_server_conn_input(c, "\r\n", 2, &plain), NOA_EINVAL);
    noa_tls_server_conn_free(c);
    assert_int_equal(noa_tls_server_conn_new(t, &c), 0);
    assert_int_equal(noa_tls_server_conn_input(c, "POST /loki", 10, &plain),
                     NOA_TLS_SERVER_PLAIN_HTTP);
    noa_tls_server_conn_free(c);
    noa_buf_fini(&plain);
    noa_tls_server_free(t);
}

/* ---- tests: client certificates ---------------------------------------- */

struct auth_case {
    const char *auth;
    int with_ca;
    const char *cert, *key; /* NULL: the client sends none */
    int ok;
};

static void test_client_auth_policies(void **state)
{
    (void)state;
    const struct auth_case cases[] = {
        {"NoClientCert", 0, NULL, NULL, 1},
        {"NoClientCert", 0, cli_cert, cli_key, 1},
        {"RequestClientCert", 0, NULL, NULL, 1},
        {"RequestClientCert", 1, self_cert, self_key, 1}, /* not verified */
        {"RequireAnyClientCert", 0, NULL, NULL, 0},
        {"RequireAnyClientCert", 1, self_cert, self_key, 1},
        {"VerifyClientCertIfGiven", 1, NULL, NULL, 1},
        {"VerifyClientCertIfGiven", 1, cli_cert, cli_key, 1},
        {"VerifyClientCertIfGiven", 1, self_cert, self_key, 0},
        {"RequireAndVerifyClientCert", 1, NULL, NULL, 0},
        {"RequireAndVerifyClientCert", 1, self_cert, self_key, 0},
        {"RequireAndVerifyClientCert", 1, cli_cert, cli_key, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct auth_case *k = &cases[i];
        for (int v = 0; v < 2; v++) {
            int maxv = v ? TLS1_2_VERSION : 0;
            struct noa_tls_server *t = server_ctx(k->auth, k->with_ca ? ca_pem : NULL, NULL);
            struct pair p;
            pair_init(&p, t, k->cert, k->key, maxv);
            int ok = handshake(&p);
            if (ok != k->ok)
                fail_msg("case %zu (%s, cert %s, TLS %s): handshake %s, server said \"%s\"", i,
                         k->auth, k->cert ? k->cert : "none", v ? "1.2" : "1.3",
                         ok ? "succeeded" : "failed", noa_tls_server_conn_error(p.srv));
            if (!ok) {
                assert_int_equal(p.last_rc, NOA_EINVAL);
                assert_true(strlen(noa_tls_server_conn_error(p.srv)) > 0);
            } else {
                /* Data flows once accepted. */
                assert_int_equal(SSL_write(p.cli, "ping", 4), 4);
                pump(&p);
                assert_int_equal(p.plain.len, 4);
            }
            pair_fini(&p);
            noa_tls_server_free(t);
        }
    }
}

static void test_min_version(void **state)
{
    (void)state;
    /* Default: TLS 1.1 is refused, 1.2 accepted. */
    struct noa_tls_server *t = server_ctx(NULL, NULL, "VersionTLS10");
    struct pair p;
    pair_init(&p, t, NULL, NULL, TLS1_1_VERSION);
    assert_false(handshake(&p));
    pair_fini(&p);
    pair_init(&p, t, NULL, NULL, TLS1_2_VERSION);
    assert_true(handshake(&p));
    pair_fini(&p);
    noa_tls_server_free(t);
    /* VersionTLS13 refuses 1.2. */
    t = server_ctx(NULL, NULL, "VersionTLS13");
    pair_init(&p, t, NULL, NULL, TLS1_2_VERSION);
    assert_false(handshake(&p));
    pair_fini(&p);
    pair_init(&p, t, NULL, NULL, 0);
    assert_true(handshake(&p));
    pair_fini(&p);
    noa_tls_server_free(t);
}

/* The SHA-256 fingerprint of the certificate the client was served. */
static void served_fingerprint(struct pair *p, unsigned char md[32])
{
    X509 *x = SSL_get1_peer_certificate(p->cli);
    assert_non_null(x);
    unsigned n = 0;
    X509_digest(x, EVP_sha256(), md, &n);
    assert_int_equal(n, 32);
    X509_free(x);
}

static void copy_file(const char *from, const char *to)
{
    char buf[8192];
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

/* A rotated certificate is served on the next handshake; a broken
 * rotation keeps the previous one. */
static void test_certificate_rotation(void **state)
{
    (void)state;
    char cert[160], key[160];
    snprintf(cert, sizeof(cert), "%s/rot.pem", dir);
    snprintf(key, sizeof(key), "%s/rot.key", dir);
    copy_file(srv_cert, cert);
    copy_file(srv_key, key);
    struct noa_tls_server *t = NULL;
    struct noa_error err = {0};
    struct noa_tls_server_options o = {.cert_file = cert, .key_file = key};
    assert_int_equal(noa_tls_server_new(&o, &t, &err), 0);
    unsigned char first[32], second[32], third[32];
    struct pair p;
    pair_init(&p, t, NULL, NULL, 0);
    assert_true(handshake(&p));
    served_fingerprint(&p, first);
    pair_fini(&p);

    /* Rotate to the client's pair (signed by the same CA; the client
     * below does not check the host name for this one). */
    sleep(1); /* past the once-a-second check and the mtime granularity */
    copy_file(cli_cert, cert);
    copy_file(cli_key, key);
    pair_init(&p, t, NULL, NULL, 0);
    SSL_set1_host(p.cli, NULL);
    assert_true(handshake(&p));
    served_fingerprint(&p, second);
    pair_fini(&p);
    assert_memory_not_equal(first, second, 32);

    /* Half a rotation (a key that does not match) changes nothing. */
    sleep(1);
    copy_file(srv_key, key);
    pair_init(&p, t, NULL, NULL, 0);
    SSL_set1_host(p.cli, NULL);
    assert_true(handshake(&p));
    served_fingerprint(&p, third);
    pair_fini(&p);
    assert_memory_equal(second, third, 32);
    noa_tls_server_free(t);
    unlink(cert);
    unlink(key);
}

/* ---- tests: the HTTP server over TLS ------------------------------------ */

struct srv_fixture {
    uv_loop_t loop;
    struct noa_http_server *srv;
    int port;
    int closed;
    pthread_t thread;
    uv_async_t done;
    /* what the client thread saw */
    char reply1[4096], reply2[4096], plain_reply[512];
    size_t big_got; /* body bytes of /big that arrived intact */
    int big_status;
    int refused_no_cert;
    int with_cert_ok;
};

static void hello_cb(struct noa_http_request *req, void *ctx)
{
    (void)ctx;
    noa_http_reply(req, 200, "text/plain", "hello over tls\n", 15);
}

static void echo_cb(struct noa_http_request *req, void *ctx)
{
    (void)ctx;
    /* A streamed reply: chunks go through TLS too. */
    noa_http_reply_start(req, 200, "text/plain");
    noa_http_reply_chunk(req, req->body.p, req->body.len);
    noa_http_reply_chunk(req, "!", 1);
    noa_http_reply_end(req);
}

#define BIG_LEN ((size_t)6 << 20)

static char big_byte(size_t i)
{
    return (char)('a' + (i * 7 + i / 4096) % 26);
}

static void big_cb(struct noa_http_request *req, void *ctx)
{
    (void)ctx;
    /* Larger than the write high-water mark: many records, back-pressure. */
    struct noa_buf b = {0};
    noa_buf_reserve(&b, BIG_LEN);
    for (size_t i = 0; i < BIG_LEN; i++)
        b.data[i] = big_byte(i);
    b.len = BIG_LEN;
    noa_http_reply_buf(req, 200, "application/octet-stream", &b);
}

/* Reads a Content-Length response of BIG_LEN bytes, checking every byte. */
static void read_big(SSL *s, struct srv_fixture *f)
{
    char buf[65536];
    size_t have = 0, body = 0;
    char head[1024];
    int in_body = 0;
    while (body < BIG_LEN) {
        int r = SSL_read(s, buf, sizeof(buf));
        if (r <= 0)
            return;
        size_t off = 0;
        if (!in_body) {
            size_t take = (size_t)r < sizeof(head) - 1 - have ? (size_t)r : sizeof(head) - 1 - have;
            memcpy(head + have, buf, take);
            have += take;
            head[have] = '\0';
            char *end = strstr(head, "\r\n\r\n");
            if (!end)
                continue;
            f->big_status = atoi(head + 9);
            off = (size_t)(end + 4 - head) - (have - take);
            in_body = 1;
        }
        for (; off < (size_t)r; off++, body++)
            if (buf[off] != big_byte(body))
                return;
        f->big_got = body;
    }
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads one response with Content-Length or chunked ending "0\r\n\r\n". */
static void ssl_read_reply(SSL *s, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    while (n + 1 < cap) {
        int r = SSL_read(s, out + n, (int)(cap - 1 - n));
        if (r <= 0)
            break;
        n += (size_t)r;
        out[n] = '\0';
        const char *end = strstr(out, "\r\n\r\n");
        if (!end)
            continue;
        const char *cl = strstr(out, "Content-Length: ");
        if (cl && (size_t)(end + 4 - out) + (size_t)atoi(cl + 16) <= n)
            break;
        if (!cl && strstr(out, "\r\n0\r\n\r\n"))
            break;
    }
}

static SSL *client_connect(SSL_CTX *cctx, int port, int *fd_out)
{
    int fd = tcp_connect(port);
    if (fd < 0)
        return NULL;
    SSL *s = SSL_new(cctx);
    SSL_set_fd(s, fd);
    SSL_set_tlsext_host_name(s, "localhost");
    *fd_out = fd;
    if (SSL_connect(s) != 1) {
        SSL_free(s);
        close(fd);
        return NULL;
    }
    return s;
}

static void *client_main(void *arg)
{
    struct srv_fixture *f = arg;
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(cctx, ca_pem, NULL);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
    int fd = -1;
    /* Without a client certificate, the server refuses: the handshake or
     * the first read fails (TLS 1.3 reports the refusal after connect). */
    SSL *s = client_connect(cctx, f->port, &fd);
    if (!s) {
        f->refused_no_cert = 1;
    } else {
        static const char r0[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
        SSL_write(s, r0, (int)strlen(r0));
        char b[64];
        f->refused_no_cert = SSL_read(s, b, sizeof(b)) <= 0;
        SSL_free(s);
        close(fd);
    }
    /* With one, two requests on a kept-alive connection. */
    SSL_CTX_use_certificate_file(cctx, cli_cert, SSL_FILETYPE_PEM);
    SSL_CTX_use_PrivateKey_file(cctx, cli_key, SSL_FILETYPE_PEM);
    s = client_connect(cctx, f->port, &fd);
    if (s) {
        f->with_cert_ok = 1;
        static const char r1[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
        SSL_write(s, r1, (int)strlen(r1));
        ssl_read_reply(s, f->reply1, sizeof(f->reply1));
        static const char r2[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde";
        SSL_write(s, r2, (int)strlen(r2));
        ssl_read_reply(s, f->reply2, sizeof(f->reply2));
        static const char r3[] = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
        SSL_write(s, r3, (int)strlen(r3));
        read_big(s, f);
        SSL_shutdown(s);
        SSL_free(s);
        close(fd);
    }
    /* Plain HTTP on the TLS port gets Go's answer. */
    fd = tcp_connect(f->port);
    if (fd >= 0) {
        static const char pr[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
        if (write(fd, pr, strlen(pr)) > 0) {
            size_t n = 0;
            ssize_t r;
            while (n + 1 < sizeof(f->plain_reply) &&
                   (r = read(fd, f->plain_reply + n, sizeof(f->plain_reply) - 1 - n)) > 0)
                n += (size_t)r;
            f->plain_reply[n] = '\0';
        }
        close(fd);
    }
    SSL_CTX_free(cctx);
    uv_async_send(&f->done);
    return NULL;
}

static void on_server_closed(void *ctx)
{
    struct srv_fixture *f = ctx;
    f->closed = 1;
}

static void on_done(uv_async_t *a)
{
    struct srv_fixture *f = a->data;
    noa_http_server_close(f->srv, on_server_closed, f);
    uv_close((uv_handle_t *)a, NULL);
}

static void test_http_server_over_tls(void **state)
{
    (void)state;
    struct srv_fixture *f = calloc(1, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    struct noa_tls_server *t = server_ctx("RequireAndVerifyClientCert", ca_pem, NULL);
    struct noa_http_server_options o = {.host = "127.0.0.1", .tls = t};
    assert_int_equal(noa_http_server_new(&f->loop, &o, &f->srv), 0);
    assert_int_equal(noa_http_server_route(f->srv, NOA_HTTP_GET, "/hello", NULL, hello_cb, f), 0);
    assert_int_equal(noa_http_server_route(f->srv, NOA_HTTP_POST, "/echo", NULL, echo_cb, f), 0);
    assert_int_equal(noa_http_server_route(f->srv, NOA_HTTP_GET, "/big", NULL, big_cb, f), 0);
    assert_int_equal(noa_http_server_listen(f->srv), 0);
    f->port = noa_http_server_port(f->srv);
    uv_async_init(&f->loop, &f->done, on_done);
    f->done.data = f;
    assert_int_equal(pthread_create(&f->thread, NULL, client_main, f), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    pthread_join(f->thread, NULL);
    assert_true(f->closed);
    assert_int_equal(uv_loop_close(&f->loop), 0);

    assert_true(f->refused_no_cert);
    assert_true(f->with_cert_ok);
    assert_non_null(strstr(f->reply1, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(f->reply1, "\r\n\r\nhello over tls\n"));
    assert_non_null(strstr(f->reply2, "Transfer-Encoding: chunked\r\n"));
    assert_non_null(strstr(f->reply2, "\r\n\r\n5\r\nabcde\r\n1\r\n!\r\n0\r\n\r\n"));
    assert_string_equal(f->plain_reply, NOA_TLS_SERVER_PLAIN_HTTP_REPLY);
    assert_int_equal(f->big_status, 200);
    assert_int_equal(f->big_got, BIG_LEN);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_auth_names),
        cmocka_unit_test(test_startup_errors_name_the_file),
        cmocka_unit_test(test_handshake_and_http_exchange),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_garbage_client_hello_fails_cleanly),
        cmocka_unit_test(test_client_auth_policies),
        cmocka_unit_test(test_min_version),
        cmocka_unit_test(test_certificate_rotation),
        cmocka_unit_test(test_http_server_over_tls),
    };
    return cmocka_run_group_tests(tests, make_certs, remove_certs);
}
