#ifndef ENGRAM_BASE_LOG_H_
#define ENGRAM_BASE_LOG_H_

// The one place where engram reports what it cannot return: a snapshot that
// is unusable, a snapshot write that failed, a broken invariant. The library
// never writes to stderr or aborts by itself; it calls the log sink, which
// an application may replace (to route diagnostics into its own logging).
//
// The default sink writes "engram: <message>" to stderr. A kFatal message
// means the process cannot continue (a programming error detected at run
// time); after the sink returns, engram aborts.
//
// Thread-safety: SetLogSink and Log may be called from any thread; the sink
// must be thread-safe itself and must not call back into engram.

#include <string_view>

namespace engram {

enum class LogSeverity { kInfo, kWarning, kError, kFatal };

// Receives every diagnostic. `message` is only valid during the call.
using LogSink = void (*)(LogSeverity severity, std::string_view message);

// Installs `sink` (nullptr restores the default) and returns the previous
// sink, or nullptr if it was the default.
LogSink SetLogSink(LogSink sink) noexcept;

// Hands `message` to the current sink; aborts after it for kFatal.
void Log(LogSeverity severity, std::string_view message) noexcept;

// Name of a severity ("info", "warning", "error", "fatal").
std::string_view LogSeverityName(LogSeverity severity) noexcept;

}  // namespace engram

#endif  // ENGRAM_BASE_LOG_H_
