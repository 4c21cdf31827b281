// libFuzzer target: the segment reader (header parsing, record and batch
// checks, the scan that tells torn tails from corruption) must never crash,
// read out of bounds or hang on arbitrary bytes.
//
// Input: first byte selects the mode. Even: the rest is a whole segment
// file. Odd: the rest is record bytes placed after a valid segment header,
// so the fuzzer spends its time on records.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "journal/internal/format.h"
#include "journal/internal/segment_scanner.h"

using namespace engram::internal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool synth = data[0] & 1;
  ++data;
  --size;
  // 8-byte aligned copy, as a mapped segment would be.
  std::vector<uint64_t> buf;
  size_t n;
  if (synth) {
    n = kSegmentHeaderSize + size;
    buf.assign((n + 7) / 8, 0);
    SegmentHeader h{};
    h.magic = kSegmentMagic;
    h.format_version = kFormatVersion;
    h.header_size = kSegmentHeaderSize;
    h.first_lsn = 1;
    h.segment_size = n < kMinSegmentSize ? kMinSegmentSize : n;
    h.checksum = SegmentHeaderChecksum(h);
    std::memcpy(buf.data(), &h, sizeof h);
    if (size > 0) std::memcpy(reinterpret_cast<uint8_t*>(buf.data()) + kSegmentHeaderSize, data, size);
  } else {
    n = size;
    buf.assign((n + 7) / 8 + 1, 0);
    if (size > 0) std::memcpy(buf.data(), data, size);
  }
  const uint8_t* bytes = reinterpret_cast<const uint8_t*>(buf.data());
  auto header = ParseSegmentHeader(bytes, n, "fuzz.seg");
  if (!header.ok()) return 0;
  uint64_t sum = 0;
  SegmentScan scan = ScanSegmentRecords(
      bytes, n, *header, [&](const engram::RecordView& v, size_t offset) {
        // Touch every payload byte: must be inside the buffer.
        for (char c : v.payload) sum += static_cast<uint8_t>(c);
        sum += offset;
      });
  if (scan.end_offset > n && scan.end_offset > header->segment_size) __builtin_trap();
  if (scan.trailing_end < scan.end_offset) __builtin_trap();
  // Record checks at arbitrary offsets must be safe as well.
  for (size_t off = 0; off < n && off < 4096; off += 8) {
    RecordCheck c = CheckRecordAt(bytes, n, header->segment_size, off, off / 8);
    if (c.state == RecordState::kValid && off + c.bytes > n) __builtin_trap();
  }
  return static_cast<int>(sum & 0);
}
