// Test support: a throwaway PKI made with the openssl CLI for TLS tests (HTTPS endpoints, gRPC
// with TLS and client certificates).
//
// MakeTestCerts writes PEM files into `dir` (created if missing; the caller owns and removes it):
// a CA; a server certificate signed by it for IP:127.0.0.1 and DNS:localhost (serverAuth and
// clientAuth, so it can also act as a peer/client certificate); a client certificate (CN=client,
// clientAuth) signed by the CA; and a client certificate signed by a second, unrelated CA, which
// a server trusting only the first CA must refuse. Keys are unencrypted ECDSA P-256 in PKCS#8;
// certificates are valid for two days from now.
//
// Thread safety: MakeTestCerts may run concurrently for different directories.
#ifndef RAMETCD_TESTS_SUPPORT_TEST_CERTS_H_
#define RAMETCD_TESTS_SUPPORT_TEST_CERTS_H_

#include <string>

#include "absl/status/statusor.h"

namespace rametcd::testing {

struct TestCerts {
  std::string dir;
  std::string ca;  // path of the CA certificate that signed server_cert and client_cert
  std::string server_cert, server_key;
  std::string client_cert, client_key;
  std::string other_ca_client_cert, other_ca_client_key;
  std::string other_ca;  // path of the CA certificate that signed other_ca_client_cert
};

// Errors: Internal with the openssl command line and its output when a command fails.
absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir);

}  // namespace rametcd::testing

#endif  // RAMETCD_TESTS_SUPPORT_TEST_CERTS_H_
