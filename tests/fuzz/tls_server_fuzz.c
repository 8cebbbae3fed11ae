/*
 * Fuzz target for the TLS server state machine (common/tls_server.h):
 * bytes from an untrusted peer, cut into reads of sizes the first byte
 * chooses, are fed as TLS records to a fresh server connection. Never a
 * crash or a leak; a failed connection stays failed; no application data
 * comes out before the handshake completed; every output is taken. The
 * server's certificate is made once at start-up (self-signed EC key in a
 * temporary file, removed after loading).
 */
#include "common/buf.h"
#include "common/mem.h"
#include "common/tls_server.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct noa_tls_server *make_server(void)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/noa_tls_fuzz_%d.pem", (int)getpid());
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_sign(x, k, EVP_sha256());
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    PEM_write_X509(f, x);
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
    struct noa_tls_server *t = NULL;
    struct noa_error err = {0};
    /* Asking for a client certificate exercises more of the handshake. */
    struct noa_tls_server_options o = {
        .cert_file = path, .key_file = path, .client_auth_type = "VerifyClientCertIfGiven"};
    int rc = noa_tls_server_new(&o, &t, &err);
    unlink(path);
    if (rc != 0) {
        fprintf(stderr, "tls_server_fuzz: %s\n", err.msg);
        abort();
    }
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct noa_tls_server *t;
    if (!t)
        t = make_server();
    if (size < 1 || size > 1 << 20)
        return 0;
    /* 0: the whole input at once; otherwise reads of 1..255 bytes. */
    size_t step = data[0] ? data[0] : size;
    data++;
    size--;
    struct noa_tls_server_conn *c = NULL;
    if (noa_tls_server_conn_new(t, &c) != 0)
        abort();
    struct noa_buf plain = {0};
    int failed = 0;
    for (size_t at = 0; at < size; at += step) {
        size_t n = size - at < step ? size - at : step;
        int rc = noa_tls_server_conn_input(c, (const char *)data + at, n, &plain);
        if (failed && rc != NOA_EINVAL && rc != NOA_TLS_SERVER_PLAIN_HTTP)
            abort(); /* a dead connection came back */
        if (rc < 0 || rc == NOA_TLS_SERVER_PLAIN_HTTP)
            failed = 1;
        if (plain.len && !noa_tls_server_conn_established(c))
            abort();
        size_t len;
        noa_free(noa_tls_server_conn_take_output(c, &len));
        if (noa_tls_server_conn_pending(c))
            abort();
        if (noa_tls_server_conn_established(c) && !failed)
            noa_tls_server_conn_write(c, "HTTP/1.1 200 OK\r\n\r\n", 19);
    }
    noa_tls_server_conn_shutdown(c);
    size_t len;
    noa_free(noa_tls_server_conn_take_output(c, &len));
    noa_tls_server_conn_free(c);
    noa_buf_fini(&plain);
    return 0;
}
