// NatsJetStream against a nats-server that requires a user and password and
// TLS with client certificates, on loopback, with certificates this test
// makes with openssl: the right credentials replicate; a wrong password, a
// missing client certificate or an unknown CA is a prompt error naming the
// server, never the password.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engram/replication/nats_jet_stream.h"
#include "tests/replication/nats_server.h"
#include "tests/temp_dir.h"

namespace engram {
namespace {

using testing::NatsServer;
using testing::NatsServerOptions;
using testing::TempDir;

constexpr char kPassword[] = "pa55-w0rd-not-in-any-log";

// A CA, a server certificate for 127.0.0.1 and a client certificate, both
// signed by the CA; and a second CA that signed nothing here.
struct Certificates {
  TempDir dir;
  std::string ca, server_cert, server_key, client_cert, client_key, other_ca;
  Certificates() {
    const std::string d = dir.path();
    ca = d + "/ca.pem";
    other_ca = d + "/other-ca.pem";
    server_cert = d + "/server.pem";
    server_key = d + "/server-key.pem";
    client_cert = d + "/client.pem";
    client_key = d + "/client-key.pem";
    const std::string script = absl::StrCat(
        "set -e; cd ", d, "; exec >openssl.log 2>&1\n",
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=engram-test-ca "
        "-keyout ca-key.pem -out ca.pem\n",
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca "
        "-keyout other-ca-key.pem -out other-ca.pem\n",
        "printf 'subjectAltName=IP:127.0.0.1\\n' > server.ext\n",
        "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server-key.pem "
        "-out server.csr\n",
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial "
        "-days 2 -extfile server.ext -out server.pem\n",
        "printf 'extendedKeyUsage=clientAuth\\n' > client.ext\n",
        "openssl req -newkey rsa:2048 -nodes -subj /CN=engram-client -keyout client-key.pem "
        "-out client.csr\n",
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial "
        "-days 2 -extfile client.ext -out client.pem\n");
    const std::string file = d + "/make-certificates.sh";
    std::FILE* f = std::fopen(file.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fputs(script.c_str(), f);
    std::fclose(f);
    INFO("see " << d << "/openssl.log");
    REQUIRE(std::system(("bash " + file).c_str()) == 0);
  }
};

std::unique_ptr<NatsServer> SecureServer(const Certificates& c) {
  NatsServerOptions o;
  o.config = absl::StrCat("authorization {\n  user: engram\n  password: \"", kPassword,
                          "\"\n}\n"
                          "tls {\n  cert_file: \"", c.server_cert, "\"\n  key_file: \"",
                          c.server_key, "\"\n  ca_file: \"", c.ca,
                          "\"\n  verify: true\n  timeout: 2\n}\n");
  auto server = NatsServer::Start(o);
  INFO((server.ok() ? std::string() : server.status().ToString()));
  REQUIRE(server.ok());
  return *std::move(server);
}

NatsConnectOptions Client(const NatsServer& server, const Certificates& c) {
  NatsConnectOptions o;
  o.url = absl::StrCat("tls://127.0.0.1:", server.port());
  o.user = "engram";
  o.password = kPassword;
  o.tls_ca_file = c.ca;
  o.tls_cert_file = c.client_cert;
  o.tls_key_file = c.client_key;
  o.connect_timeout = absl::Seconds(3);
  return o;
}

TEST_CASE("a server with a password and TLS client certificates takes the right credentials",
          "[replication][nats]") {
  Certificates certs;
  auto server = SecureServer(certs);
  auto js = NatsJetStream::Connect(Client(*server, certs));
  INFO((js.ok() ? std::string() : js.status().ToString()));
  REQUIRE(js.ok());
  JetStreamConfig c;
  c.name = "SECURE";
  c.subjects = {"secure.>"};
  REQUIRE((*js)->EnsureStream(c).ok());
  JetStreamPublish p;
  p.subject = "secure.x";
  p.msg_id = "one";
  p.data = "over tls";
  absl::StatusOr<JetStreamAck> got = absl::UnknownError("no callback");
  (*js)->PublishAsync(p, [&](absl::StatusOr<JetStreamAck> ack) { got = ack; });
  REQUIRE((*js)->WaitForPending(absl::Seconds(10)).ok());
  REQUIRE(got.ok());
  CHECK(got->sequence == 1);
}

TEST_CASE("wrong credentials are a prompt error naming the server, never the password",
          "[replication][nats]") {
  Certificates certs;
  auto server = SecureServer(certs);
  NatsConnectOptions o = Client(*server, certs);
  bool wrong_password = false;
  SECTION("a wrong password") {
    o.password = "not-the-password";
    wrong_password = true;
  }
  SECTION("no client certificate") {
    o.tls_cert_file.clear();
    o.tls_key_file.clear();
  }
  SECTION("a CA that did not sign the server's certificate") { o.tls_ca_file = certs.other_ca; }
  // Returns (a hang would run into the test's timeout instead).
  auto js = NatsJetStream::Connect(o);
  REQUIRE_FALSE(js.ok());
  INFO(js.status().ToString());
  if (wrong_password) CHECK(absl::IsUnauthenticated(js.status()));
  CHECK(absl::StrContains(js.status().message(), absl::StrCat("127.0.0.1:", server->port())));
  CHECK_FALSE(absl::StrContains(js.status().message(), kPassword));
  CHECK_FALSE(absl::StrContains(js.status().message(), "not-the-password"));
}

}  // namespace
}  // namespace engram
