#ifndef ENGRAM_IMAGE_STATE_HASH_H_
#define ENGRAM_IMAGE_STATE_HASH_H_

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <type_traits>

#include "absl/strings/string_view.h"
#include "engram/image/event_codec.h"

namespace engram {

// The canonical hash of a persistent actor's state, which
// MemoryImage::ImageHash combines for the whole image: the same for equal
// states in every process and every build (a leader, its followers and a
// fresh replay compare images by it), unlike absl::Hash, which is seeded
// per process.
//
// The hash of a state is XXH3-64 (seed 0) of a byte string that the state's
// HashState writes into a StateHashWriter, one field at a time:
//
//   Add(v)          an integer, enum, bool, float or double: sizeof(v) bytes,
//                   little-endian, exactly as engram::codec::Put writes it
//                   (an enum as its underlying type; a bool as one byte 0 or
//                   1; float and double as their IEEE-754 bit pattern, so
//                   0.0 and -0.0 differ). Use fixed-width types (int64_t, not
//                   long).
//   AddBytes(s)     u64 length, then the bytes.
//   AddRange(r)     u64 element count, then each element in iteration order
//   AddRange(r, f)  (Add for numbers and enums, AddBytes for strings, or
//                   f(writer, element)). For vectors, arrays, std::map, ...
//   AddUnordered(r) for containers whose iteration order differs between
//   AddUnordered(r, f)  processes (absl::flat_hash_set/map, std::unordered_*):
//                   each element is hashed alone -- its digest is XXH3-64 of
//                   what Add/AddBytes or f wrote for it into a fresh writer --
//                   and three u64 are written: the element count, the sum
//                   (mod 2^64) and the xor of the element digests. Equal
//                   contents in any order give equal bytes.
//   AddRaw(b)       the bytes as they are, no length: only for fixed-size
//                   encodings (the default path below uses it).
//
// A state gets its canonical hash (StateHasher<State>, see
// persistent_actor.h) from, in this order:
//   1. a specialization of engram::StateHasher<State>;
//   2. a free function found by ADL, most simply a hidden friend, as for
//      AbslHashValue:
//
//        struct AccountState {
//          int64_t balance = 0;
//          absl::flat_hash_set<uint64_t> debits;
//          friend void HashState(engram::StateHashWriter& w, const AccountState& s) {
//            w.Add(s.balance);
//            w.AddUnordered(s.debits);
//          }
//        };
//
//   3. for a trivially copyable state whose bytes are its value
//      (engram::internal::kHasDeterministicBytes: no padding, no float
//      member), XXH3-64 of its EventCodec encoding -- its raw bytes, in host
//      byte order (little-endian on every platform engram supports), or
//      what an EventCodec specialization writes;
//   4. otherwise a compile-time error asking for HashState.
// A new field must be added to HashState, or two images that differ in it
// compare equal.
//
// Thread-safety: a StateHashWriter is used by one thread (a state is hashed
// on its actor's turn). It holds no heap memory.
class StateHashWriter {
 public:
  StateHashWriter() = default;
  StateHashWriter(const StateHashWriter&) = delete;
  StateHashWriter& operator=(const StateHashWriter&) = delete;

  // One integer, enum, bool, float or double field (see above).
  template <class T>
  void Add(T v) {
    static_assert(std::is_arithmetic_v<T> || std::is_enum_v<T>,
                  "StateHashWriter::Add takes one integer, enum, bool, float or double; use "
                  "AddBytes for strings, AddRange/AddUnordered for containers, and call "
                  "HashState(writer, member) for a nested struct");
    std::string bytes;  // at most 8 bytes: no heap (small-string buffer)
    codec::Put(&bytes, v);
    AddRaw(bytes);
  }

  // A string or byte field: u64 length, then the bytes.
  void AddBytes(absl::string_view bytes) {
    Add(static_cast<uint64_t>(bytes.size()));
    AddRaw(bytes);
  }

  // An ordered range: u64 count, then each element (numbers and enums with
  // Add, strings with AddBytes).
  template <class Range>
  void AddRange(const Range& range) {
    AddRange(range, [](StateHashWriter& w, const auto& e) { w.AddElement(e); });
  }
  // An ordered range: u64 count, then `per_element(writer, element)` for
  // each element in iteration order.
  template <class Range, class F>
  void AddRange(const Range& range, F per_element) {
    Add(static_cast<uint64_t>(std::size(range)));
    for (const auto& e : range) per_element(*this, e);
  }

  // A range whose iteration order means nothing (a hash set or map): u64
  // count, u64 sum and u64 xor of the elements' own digests (see above).
  template <class Range>
  void AddUnordered(const Range& range) {
    AddUnordered(range, [](StateHashWriter& w, const auto& e) { w.AddElement(e); });
  }
  // As above, each element written by `per_element(writer, element)` into a
  // fresh writer of its own (for a map: the key and the value).
  template <class Range, class F>
  void AddUnordered(const Range& range, F per_element) {
    uint64_t count = 0, sum = 0, xr = 0;
    for (const auto& e : range) {
      StateHashWriter element;
      per_element(element, e);
      const uint64_t d = element.Digest();
      ++count;
      sum += d;
      xr ^= d;
    }
    Add(count);
    Add(sum);
    Add(xr);
  }

  // Bytes as they are, without a length: only for fixed-size encodings (a
  // variable-length field needs AddBytes, or two different states can write
  // the same bytes).
  void AddRaw(absl::string_view bytes);

  // XXH3-64 (seed 0) of every byte written so far. The writer may go on.
  uint64_t Digest() const;

 private:
  template <class E>
  void AddElement(const E& e) {
    if constexpr (std::is_arithmetic_v<E> || std::is_enum_v<E>) {
      Add(e);
    } else if constexpr (std::is_convertible_v<const E&, absl::string_view>) {
      AddBytes(e);
    } else {
      static_assert(std::is_arithmetic_v<E> || std::is_enum_v<E>,
                    "AddRange/AddUnordered without a per-element function take numbers, enums "
                    "and strings only: pass [](engram::StateHashWriter& w, const auto& e) { ... }");
    }
  }
  // Flushes buffer_ into the XXH3 state (resetting it on first use).
  void Flush();

  // XXH3_state_t of xxHash 0.8 (576 bytes, 64-aligned), opaque here so that
  // xxhash.h stays out of the public headers; used only once more than
  // kBufferBytes have been written (short inputs are hashed in one call).
  static constexpr size_t kStateBytes = 576;
  static constexpr size_t kBufferBytes = 128;
  alignas(64) unsigned char state_[kStateBytes];
  unsigned char buffer_[kBufferBytes];
  size_t buffered_ = 0;
  bool streaming_ = false;  // state_ is initialized and holds earlier bytes
};

namespace internal {
template <class T>
inline constexpr bool kStateHashDependentFalse = false;
}  // namespace internal

// Whether HashState(StateHashWriter&, const State&) is found for State.
template <class State>
concept HasHashState = requires(StateHashWriter& w, const State& s) { HashState(w, s); };

// The canonical hash of `s` by steps 2-4 above (StateHasher's default).
template <class State>
uint64_t CanonicalStateHash(const State& s) {
  StateHashWriter w;
  if constexpr (HasHashState<State>) {
    HashState(w, s);
  } else if constexpr (internal::kHasDeterministicBytes<State>) {
    std::string bytes;
    EventCodec<State>::Encode(s, &bytes);
    w.AddRaw(bytes);
  } else {
    static_assert(internal::kStateHashDependentFalse<State>,
                  "this state has no canonical hash for MemoryImage::ImageHash: write a friend "
                  "void HashState(engram::StateHashWriter& w, const State& s) that adds every "
                  "field (w.Add, w.AddBytes, w.AddRange, w.AddUnordered for hash containers), "
                  "or specialize engram::StateHasher<State> (see engram/image/state_hash.h). "
                  "Only a trivially copyable state without padding or float members is "
                  "hashed by its bytes.");
  }
  return w.Digest();
}

}  // namespace engram

#endif  // ENGRAM_IMAGE_STATE_HASH_H_
