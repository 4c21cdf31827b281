#include "engram/image/state_hash.h"

#include <cstring>

#define XXH_STATIC_LINKING_ONLY  // the definition of XXH3_state_t
#include <xxhash.h>

namespace engram {
namespace {

XXH3_state_t* AsState(unsigned char* bytes) { return reinterpret_cast<XXH3_state_t*>(bytes); }

}  // namespace

// The buffer in the header stands for an XXH3_state_t.
static_assert(sizeof(XXH3_state_t) <= 576, "StateHashWriter::kStateBytes is too small");
static_assert(alignof(XXH3_state_t) <= 64, "StateHashWriter::state_ is not aligned enough");

void StateHashWriter::Flush() {
  XXH3_state_t* state = AsState(state_);
  if (!streaming_) {
    XXH3_64bits_reset(state);  // seed 0, the default secret
    streaming_ = true;
  }
  XXH3_64bits_update(state, buffer_, buffered_);
  buffered_ = 0;
}

void StateHashWriter::AddRaw(absl::string_view bytes) {
  if (bytes.size() <= kBufferBytes - buffered_) {
    if (!bytes.empty()) std::memcpy(buffer_ + buffered_, bytes.data(), bytes.size());
    buffered_ += bytes.size();
    return;
  }
  Flush();
  if (bytes.size() <= kBufferBytes) {
    std::memcpy(buffer_, bytes.data(), bytes.size());
    buffered_ = bytes.size();
  } else {
    XXH3_64bits_update(AsState(state_), bytes.data(), bytes.size());
  }
}

uint64_t StateHashWriter::Digest() const {
  if (!streaming_) return XXH3_64bits(buffer_, buffered_);
  // The digest of a copy: the writer may go on.
  alignas(64) unsigned char copy[kStateBytes];
  XXH3_state_t* state = AsState(copy);
  XXH3_copyState(state, reinterpret_cast<const XXH3_state_t*>(state_));
  XXH3_64bits_update(state, buffer_, buffered_);
  return XXH3_64bits_digest(state);
}

}  // namespace engram
