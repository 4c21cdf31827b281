#include "engram/base/log.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace {

std::vector<std::string>* g_seen = nullptr;

void Capture(engram::LogSeverity severity, std::string_view message) {
  g_seen->push_back(std::string(engram::LogSeverityName(severity)) + ": " +
                    std::string(message));
}

}  // namespace

TEST_CASE("an installed log sink receives every message until it is removed", "[base]") {
  std::vector<std::string> seen;
  g_seen = &seen;
  REQUIRE(engram::SetLogSink(&Capture) == nullptr);
  engram::Log(engram::LogSeverity::kWarning, "snapshot 7 is unusable");
  engram::Log(engram::LogSeverity::kError, "disk full");
  REQUIRE(engram::SetLogSink(nullptr) == &Capture);
  engram::Log(engram::LogSeverity::kInfo, "goes to stderr, not to the capture");
  REQUIRE(seen == std::vector<std::string>{"warning: snapshot 7 is unusable",
                                           "error: disk full"});
  g_seen = nullptr;
}
