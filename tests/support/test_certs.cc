#include "support/test_certs.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "support/server_process.h"

namespace rametcd::testing {
namespace {

constexpr char kConfig[] = R"([req]
distinguished_name = dn
prompt = no
[dn]
CN = rametcd-test
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
)";

absl::Status Run(const std::vector<std::string>& argv) {
  CommandResult r = RunCommand(argv);
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("`", absl::StrJoin(argv, " "), "` failed (exit ",
                                            r.exit_code, "): ", r.output));
  }
  return absl::OkStatus();
}

// A new P-256 key `name`.key and certificate `name`.crt signed by `ca` (self-signed when `ca` is
// empty) with the extensions of config section `ext`.
absl::Status MakeCert(const std::string& dir, const std::string& config, const std::string& name,
                      const std::string& subject, const std::string& ca, const std::string& ext,
                      int serial) {
  const std::string key = absl::StrCat(dir, "/", name, ".key");
  const std::string crt = absl::StrCat(dir, "/", name, ".crt");
  const std::string csr = absl::StrCat(dir, "/", name, ".csr");
  std::vector<std::string> req = {"openssl", "req",     "-config",  config,
                                  "-newkey", "ec",      "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                  "-nodes",  "-keyout", key,        "-subj",
                                  subject};
  if (ca.empty()) {
    req.insert(req.end(), {"-x509", "-extensions", ext, "-days", "2", "-set_serial",
                           std::to_string(serial), "-out", crt});
    return Run(req);
  }
  req.insert(req.end(), {"-new", "-out", csr});
  absl::Status s = Run(req);
  if (!s.ok()) return s;
  return Run({"openssl", "x509", "-req", "-in", csr, "-CA", absl::StrCat(dir, "/", ca, ".crt"),
              "-CAkey", absl::StrCat(dir, "/", ca, ".key"), "-set_serial", std::to_string(serial),
              "-days", "2", "-extfile", config, "-extensions", ext, "-out", crt});
}

}  // namespace

absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  const std::string config = dir + "/openssl.cnf";
  {
    std::ofstream out(config);
    out << kConfig;
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", config));
  }
  struct Step {
    const char* name;
    const char* subject;
    const char* ca;
    const char* ext;
  };
  const Step steps[] = {
      {"ca", "/CN=rametcd-test-ca", "", "ca_ext"},
      {"server", "/CN=localhost", "ca", "server_ext"},
      {"client", "/CN=client", "ca", "client_ext"},
      {"other-ca", "/CN=rametcd-test-other-ca", "", "ca_ext"},
      {"other-ca-client", "/CN=client", "other-ca", "client_ext"},
  };
  int serial = 1000;
  for (const Step& step : steps) {
    absl::Status s = MakeCert(dir, config, step.name, step.subject, step.ca, step.ext, ++serial);
    if (!s.ok()) return s;
  }
  TestCerts certs;
  certs.dir = dir;
  certs.ca = dir + "/ca.crt";
  certs.server_cert = dir + "/server.crt";
  certs.server_key = dir + "/server.key";
  certs.client_cert = dir + "/client.crt";
  certs.client_key = dir + "/client.key";
  certs.other_ca_client_cert = dir + "/other-ca-client.crt";
  certs.other_ca_client_key = dir + "/other-ca-client.key";
  certs.other_ca = dir + "/other-ca.crt";
  return certs;
}

}  // namespace rametcd::testing
