#include "engram/image/state_hash.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "engram/actors/actor_system.h"
#include "engram/image/memory_image.h"
#include "engram/image/persistent_actor.h"
#include "tests/temp_dir.h"

// The golden constants below are XXH3-64 (seed 0) of byte strings spelled
// out in the comments, following the encoding documented in
// engram/image/state_hash.h; each can be recomputed by hand with any XXH3
// implementation (e.g. `XXH3_64bits(bytes, n)` of libxxhash, or
// `xxhsum -H3` of a file holding the bytes). A change to one of them is a
// change of the canonical hash: every replica must move at once.

namespace engram {
namespace {

// XXH3-64 of `bytes`, straight from libxxhash (the reference the writer
// must agree with).
uint64_t Xxh3(const std::string& bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

template <class T>
std::string PutBytes(T v) {
  std::string out;
  codec::Put(&out, v);
  return out;
}

template <class T>
uint64_t DigestOfAdd(T v) {
  StateHashWriter w;
  w.Add(v);
  return w.Digest();
}

enum class Color : uint8_t { kRed = 0, kGreen = 1, kBlue = 2 };
enum class Wide : int16_t { kLow = -300, kHigh = 300 };

// A state with a field of every kind.
struct Sample {
  int64_t balance = 0;
  bool open = false;
  Color color = Color::kRed;
  double rate = 0;
  std::string name;
  std::vector<uint32_t> history;
  absl::flat_hash_set<uint64_t> tags;
  friend void HashState(StateHashWriter& w, const Sample& s) {
    w.Add(s.balance);
    w.Add(s.open);
    w.Add(s.color);
    w.Add(s.rate);
    w.AddBytes(s.name);
    w.AddRange(s.history);
    w.AddUnordered(s.tags);
  }
};

Sample FixedSample() {
  Sample s;
  s.balance = -2;
  s.open = true;
  s.color = Color::kBlue;
  s.rate = 1.5;
  s.name = "ab";
  s.history = {7, 8};
  s.tags = {1, 2, 3};
  return s;
}

// Trivially copyable, no padding: hashed by its bytes without a HashState.
struct Pair {
  int64_t a = 0;
  uint64_t b = 0;
};

// A StateHasher specialization wins over everything else.
struct Custom {
  int64_t v = 0;
  friend void HashState(StateHashWriter& w, const Custom& c) { w.Add(c.v); }
};

}  // namespace

template <>
struct StateHasher<Custom> {
  uint64_t operator()(const Custom& c) const { return static_cast<uint64_t>(c.v) + 1; }
};

namespace {

TEST_CASE("each field type is hashed as codec::Put writes it", "[state_hash]") {
  CHECK(DigestOfAdd(int8_t{-5}) == Xxh3(PutBytes(int8_t{-5})));
  CHECK(DigestOfAdd(uint8_t{200}) == Xxh3(PutBytes(uint8_t{200})));
  CHECK(DigestOfAdd(int16_t{-12345}) == Xxh3(PutBytes(int16_t{-12345})));
  CHECK(DigestOfAdd(uint16_t{54321}) == Xxh3(PutBytes(uint16_t{54321})));
  CHECK(DigestOfAdd(int32_t{-7}) == Xxh3(PutBytes(int32_t{-7})));
  CHECK(DigestOfAdd(uint32_t{0xDEADBEEF}) == Xxh3(PutBytes(uint32_t{0xDEADBEEF})));
  CHECK(DigestOfAdd(int64_t{-1}) == Xxh3(PutBytes(int64_t{-1})));
  CHECK(DigestOfAdd(std::numeric_limits<uint64_t>::max()) ==
        Xxh3(PutBytes(std::numeric_limits<uint64_t>::max())));
  CHECK(DigestOfAdd(true) == Xxh3(PutBytes(true)));
  CHECK(DigestOfAdd(false) == Xxh3(PutBytes(false)));
  CHECK(DigestOfAdd(1.25f) == Xxh3(PutBytes(1.25f)));
  CHECK(DigestOfAdd(-0.1) == Xxh3(PutBytes(-0.1)));
  CHECK(DigestOfAdd(Color::kGreen) == Xxh3(PutBytes(Color::kGreen)));
  CHECK(DigestOfAdd(Wide::kLow) == Xxh3(PutBytes(Wide::kLow)));

  // And the bytes themselves: fixed width, little-endian.
  CHECK(DigestOfAdd(int32_t{-7}) == Xxh3(std::string("\xF9\xFF\xFF\xFF", 4)));
  CHECK(DigestOfAdd(uint16_t{0x0102}) == Xxh3(std::string("\x02\x01", 2)));
  CHECK(DigestOfAdd(true) == Xxh3(std::string("\x01", 1)));
  CHECK(DigestOfAdd(Wide::kHigh) == Xxh3(std::string("\x2C\x01", 2)));  // 300 as int16
  CHECK(DigestOfAdd(1.5) == Xxh3(std::string("\0\0\0\0\0\0\xF8\x3F", 8)));
  // The bit pattern: 0.0 and -0.0 differ.
  CHECK(DigestOfAdd(0.0) != DigestOfAdd(-0.0));
  // The width is part of the value: 1 as int32 is not 1 as int64.
  CHECK(DigestOfAdd(int32_t{1}) != DigestOfAdd(int64_t{1}));
}

TEST_CASE("strings and ranges are length-prefixed", "[state_hash]") {
  {
    StateHashWriter w;
    w.AddBytes("ab");
    CHECK(w.Digest() == Xxh3(std::string("\x02\0\0\0\0\0\0\0ab", 10)));
  }
  {
    // "ab" + "c" and "a" + "bc" write different bytes.
    StateHashWriter x, y;
    x.AddBytes("ab");
    x.AddBytes("c");
    y.AddBytes("a");
    y.AddBytes("bc");
    CHECK(x.Digest() != y.Digest());
  }
  {
    StateHashWriter w;
    w.AddRange(std::vector<uint32_t>{7, 8});
    CHECK(w.Digest() == Xxh3(std::string("\x02\0\0\0\0\0\0\0\x07\0\0\0\x08\0\0\0", 16)));
  }
  {
    StateHashWriter w;
    w.AddRange(std::vector<std::string>{"x", ""});
    CHECK(w.Digest() ==
          Xxh3(std::string("\x02\0\0\0\0\0\0\0" "\x01\0\0\0\0\0\0\0x" "\0\0\0\0\0\0\0\0", 25)));
  }
  {
    // Ordered: the order of a vector is part of its value.
    StateHashWriter x, y;
    x.AddRange(std::vector<int64_t>{1, 2});
    y.AddRange(std::vector<int64_t>{2, 1});
    CHECK(x.Digest() != y.Digest());
  }
  {
    // With a per-element function (a std::map: key and value).
    std::map<uint32_t, std::string> m{{1, "a"}, {2, "b"}};
    StateHashWriter w;
    w.AddRange(m, [](StateHashWriter& e, const auto& kv) {
      e.Add(kv.first);
      e.AddBytes(kv.second);
    });
    std::string bytes("\x02\0\0\0\0\0\0\0", 8);
    bytes += std::string("\x01\0\0\0" "\x01\0\0\0\0\0\0\0a", 13);
    bytes += std::string("\x02\0\0\0" "\x01\0\0\0\0\0\0\0b", 13);
    CHECK(w.Digest() == Xxh3(bytes));
  }
}

TEST_CASE("an unordered set is hashed as count, sum and xor of its element digests",
          "[state_hash]") {
  const absl::flat_hash_set<uint64_t> set = {1, 2, 3};
  StateHashWriter w;
  w.AddUnordered(set);
  const uint64_t d1 = Xxh3(PutBytes(uint64_t{1}));
  const uint64_t d2 = Xxh3(PutBytes(uint64_t{2}));
  const uint64_t d3 = Xxh3(PutBytes(uint64_t{3}));
  std::string bytes = PutBytes(uint64_t{3});
  bytes += PutBytes(static_cast<uint64_t>(d1 + d2 + d3));
  bytes += PutBytes(static_cast<uint64_t>(d1 ^ d2 ^ d3));
  CHECK(w.Digest() == Xxh3(bytes));

  StateHashWriter empty;
  empty.AddUnordered(absl::flat_hash_set<uint64_t>{});
  CHECK(empty.Digest() == Xxh3(std::string(24, '\0')));
}

TEST_CASE("the insertion order of an unordered set or map does not change the hash",
          "[state_hash]") {
  // Enough elements that the two sets' iteration orders differ.
  absl::flat_hash_set<uint64_t> forward, backward;
  absl::flat_hash_map<uint64_t, std::string> map_forward, map_backward;
  for (uint64_t i = 0; i < 1000; ++i) {
    forward.insert(i * 7919);
    map_forward[i] = std::to_string(i);
  }
  for (uint64_t i = 1000; i-- > 0;) {
    backward.insert(i * 7919);
    map_backward[i] = std::to_string(i);
  }
  // A set grown and shrunk back has other buckets than one built directly.
  absl::flat_hash_set<uint64_t> churned = forward;
  for (uint64_t i = 0; i < 5000; ++i) churned.insert(1'000'000'000 + i);
  for (uint64_t i = 0; i < 5000; ++i) churned.erase(1'000'000'000 + i);
  REQUIRE(forward == backward);
  REQUIRE(forward == churned);

  auto hash_set = [](const absl::flat_hash_set<uint64_t>& s) {
    StateHashWriter w;
    w.AddUnordered(s);
    return w.Digest();
  };
  auto hash_map = [](const absl::flat_hash_map<uint64_t, std::string>& m) {
    StateHashWriter w;
    w.AddUnordered(m, [](StateHashWriter& e, const auto& kv) {
      e.Add(kv.first);
      e.AddBytes(kv.second);
    });
    return w.Digest();
  };
  CHECK(hash_set(forward) == hash_set(backward));
  CHECK(hash_set(forward) == hash_set(churned));
  CHECK(hash_map(map_forward) == hash_map(map_backward));

  // An ordered hash of the same sets depends on the iteration order, which
  // is what AddUnordered is for (not asserted: the order may coincide).
  // Different contents give different hashes:
  absl::flat_hash_set<uint64_t> other = forward;
  other.erase(7919);
  other.insert(7918);
  CHECK(hash_set(other) != hash_set(forward));
  absl::flat_hash_set<uint64_t> fewer = forward;
  fewer.erase(0);
  CHECK(hash_set(fewer) != hash_set(forward));
  auto map_other = map_forward;
  map_other[5] = "five";
  CHECK(hash_map(map_other) != hash_map(map_forward));
}

TEST_CASE("a state's canonical hash is a golden constant", "[state_hash]") {
  // FixedSample() writes these 68 bytes (hex, little-endian fields):
  //   fe ff ff ff ff ff ff ff          balance = -2 (int64)
  //   01                               open = true (bool)
  //   02                               color = kBlue (uint8 enum)
  //   00 00 00 00 00 00 f8 3f          rate = 1.5 (double 0x3ff8000000000000)
  //   02 00 00 00 00 00 00 00 61 62    name = "ab"
  //   02 00 00 00 00 00 00 00          history: 2 elements
  //   07 00 00 00 08 00 00 00            7, 8 (uint32)
  //   03 00 00 00 00 00 00 00          tags: 3 elements,
  //   <u64 d1+d2+d3> <u64 d1^d2^d3>      dK = XXH3-64 of uint64 K (8 bytes LE)
  const Sample s = FixedSample();
  CHECK(StateHasher<Sample>{}(s) == 0x558e13d699044552ULL);
  CHECK(CanonicalStateHash(s) == 0x558e13d699044552ULL);

  // Trivially copyable, no HashState: XXH3-64 of its 16 bytes
  //   ff ff ff ff ff ff ff ff 07 00 00 00 00 00 00 00   ({a = -1, b = 7})
  CHECK(StateHasher<Pair>{}(Pair{-1, 7}) == 0xfda8874b7ffb7109ULL);

  // Nothing written: XXH3-64 of no bytes.
  CHECK(StateHashWriter().Digest() == 0x2d06800538d394c2ULL);

  // A StateHasher specialization is used as it is.
  CHECK(StateHasher<Custom>{}(Custom{41}) == 42);
}

TEST_CASE("different contents give different state hashes", "[state_hash]") {
  const uint64_t base = CanonicalStateHash(FixedSample());
  std::vector<Sample> changed(7, FixedSample());
  changed[0].balance = -3;
  changed[1].open = false;
  changed[2].color = Color::kGreen;
  changed[3].rate = 1.25;
  changed[4].name = "ac";
  changed[5].history.push_back(9);
  changed[6].tags.insert(4);
  for (size_t i = 0; i < changed.size(); ++i) {
    INFO("changed field " << i);
    CHECK(CanonicalStateHash(changed[i]) != base);
  }
}

TEST_CASE("a long state hashes as its bytes in one piece", "[state_hash]") {
  // More than the writer's inline buffer: the streaming path must give the
  // one-shot XXH3 of the same bytes. u64 300, then i*i for i in 0..299.
  std::vector<uint64_t> squares;
  for (uint64_t i = 0; i < 300; ++i) squares.push_back(i * i);
  StateHashWriter w;
  w.AddRange(squares);
  std::string bytes = PutBytes(uint64_t{300});
  for (uint64_t v : squares) bytes += PutBytes(v);
  CHECK(w.Digest() == Xxh3(bytes));
  CHECK(w.Digest() == 0xf1356917c57dc535ULL);

  // Written in pieces of every size around the buffer, as one string.
  std::string big(1000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + 7);
  for (size_t piece : {1, 3, 64, 127, 128, 129, 300}) {
    INFO("piece " << piece);
    StateHashWriter p;
    for (size_t at = 0; at < big.size(); at += piece) {
      const absl::string_view part = absl::string_view(big).substr(at, piece);
      p.AddRaw(part);
      // Digest does not end the writer: it is the hash of what came so far.
      REQUIRE(p.Digest() == Xxh3(big.substr(0, at + part.size())));
    }
    CHECK(p.Digest() == Xxh3(big));
  }
}

// ---- the image hash of a small fixed image ----

struct Count {
  uint64_t item;
  int64_t amount;
};
struct Counted {
  uint64_t item;
  int64_t amount;
};
struct GetTotal {};
struct TallyState {
  int64_t total = 0;
  absl::flat_hash_set<uint64_t> seen;
  friend void HashState(StateHashWriter& w, const TallyState& s) {
    w.Add(s.total);
    w.AddUnordered(s.seen);
  }
};
class Tally : public PersistentActor<TallyState> {
 public:
  Tally() {
    OnCommand([this](const Count& c) { Emit(Counted{c.item, c.amount}); });
    OnCommand([this](GetTotal) { return state().total; });
    OnEvent([](TallyState& s, const Counted& e) {
      s.total += e.amount;
      s.seen.insert(e.item);
    });
  }
};

TEST_CASE("the image hash of a fixed image is a golden constant", "[state_hash][image]") {
  EventRegistry registry;
  REQUIRE(registry.Register<Counted>("tally.Counted").ok());
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("journal");
  // Stream 1: Counted{1, 10}, Counted{2, 20}: total 30, seen {1, 2}, version 2.
  // Stream 2: Counted{5, -3}: total -3, seen {5}, version 1.
  // State hashes (XXH3-64 of):
  //   h1: 1e 00 00 00 00 00 00 00 | 02 00.. | <u64 d1+d2> | <u64 d1^d2>
  //   h2: fd ff ff ff ff ff ff ff | 01 00.. | <u64 d5>    | <u64 d5>
  // Image hash: XXH3-64 of the u64s 1, 2, h1, 2, 1, h2 (stream id, version,
  // state hash, in stream order).
  constexpr uint64_t kH1 = 0x43ebdd070de3829dULL;
  constexpr uint64_t kH2 = 0x96aa52dfdaac8fafULL;
  constexpr uint64_t kImage = 0xb07e47dd227ca255ULL;
  {
    TallyState s1, s2;
    s1.total = 30;
    s1.seen = {2, 1};
    s2.total = -3;
    s2.seen = {5};
    CHECK(CanonicalStateHash(s1) == kH1);
    CHECK(CanonicalStateHash(s2) == kH2);
    const uint64_t triples[6] = {1, 2, kH1, 2, 1, kH2};
    std::string bytes;
    for (uint64_t v : triples) codec::Put(&bytes, v);
    CHECK(Xxh3(bytes) == kImage);
  }
  auto open = [&](auto&& body) {
    ActorSystem system(ActorSystemOptions{.scheduler = {.threads = 2}});
    MemoryImage image(system, registry);
    image.RegisterKind<Tally>("tally");
    MemoryImage::Options o;
    o.journal.segment_size = 1 << 20;
    REQUIRE(image.Open(dir, o).ok());
    body(system, image);
  };
  open([&](ActorSystem& system, MemoryImage& image) {
    ActorRef two = image.Spawn<Tally>(2).value();
    ActorRef one = image.Spawn<Tally>(1).value();
    REQUIRE(system.Ask<Done>(one, Count{1, 10}, absl::Seconds(60)).ok());
    REQUIRE(system.Ask<Done>(two, Count{5, -3}, absl::Seconds(60)).ok());
    REQUIRE(system.Ask<Done>(one, Count{2, 20}, absl::Seconds(60)).ok());
    CHECK(image.ImageHash().value() == kImage);
  });
  // A fresh replay of the journal gives the same constant.
  open([&](ActorSystem&, MemoryImage& image) { CHECK(image.ImageHash().value() == kImage); });
  // And one more event changes it.
  open([&](ActorSystem& system, MemoryImage& image) {
    REQUIRE(system.Ask<Done>(image.Find(2).value(), Count{6, 0}, absl::Seconds(60)).ok());
    CHECK(image.ImageHash().value() != kImage);
  });
}

}  // namespace
}  // namespace engram
