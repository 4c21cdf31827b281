#include "engram/base/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace engram {
namespace {

void StderrSink(LogSeverity severity, std::string_view message) {
  std::fprintf(stderr, "engram: %s: %.*s\n", LogSeverityName(severity).data(),
               static_cast<int>(message.size()), message.data());
}

// Written by SetLogSink (acq_rel exchange); read by every Log (acquire), so
// a sink installed before a Log call is the one that call uses.
std::atomic<LogSink> g_sink{&StderrSink};

}  // namespace

LogSink SetLogSink(LogSink sink) noexcept {
  LogSink previous =
      g_sink.exchange(sink != nullptr ? sink : &StderrSink, std::memory_order_acq_rel);
  return previous == &StderrSink ? nullptr : previous;
}

void Log(LogSeverity severity, std::string_view message) noexcept {
  g_sink.load(std::memory_order_acquire)(severity, message);
  if (severity == LogSeverity::kFatal) std::abort();
}

std::string_view LogSeverityName(LogSeverity severity) noexcept {
  switch (severity) {
    case LogSeverity::kInfo: return "info";
    case LogSeverity::kWarning: return "warning";
    case LogSeverity::kError: return "error";
    case LogSeverity::kFatal: return "fatal";
  }
  return "unknown";
}

}  // namespace engram
