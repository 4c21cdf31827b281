// libFuzzer target: DecodeEpochRecord must never crash or read outside its
// input, and whatever it accepts must re-encode to exactly the same bytes
// (the layout has one encoding per record) and be describable.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engram/journal/epoch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A copy of exactly `size` bytes: reading past it is a heap overflow.
  const std::string input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<engram::EpochRecord> e = engram::DecodeEpochRecord(input);
  if (!e.ok()) {
    if (e.status().code() != absl::StatusCode::kDataLoss) __builtin_trap();
    return 0;
  }
  if (engram::EncodeEpochRecord(*e) != input) __builtin_trap();
  if (e->epoch == 0 || e->previous_epoch >= e->epoch || e->base_lsn == 0) __builtin_trap();
  if (e->node.size() > engram::kMaxEpochNodeBytes) __builtin_trap();
  if (engram::DescribeEpochRecord(*e).empty()) __builtin_trap();
  return 0;
}
