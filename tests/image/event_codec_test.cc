// Event codecs: the default byte codec only for types whose bytes are their
// value, and field-by-field codecs whose bytes are deterministic.
#include "engram/image/event_codec.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <string>

#include <catch2/catch.hpp>

#include "engram/image/event_registry.h"
#include "examples/shop/shop_model.h"

namespace engram {
namespace {

// u64, i32, (4 bytes padding), i64, double, bool: refused by the default codec.
struct Priced {
  uint64_t sku;
  int32_t qty;
  int64_t cents;
  double weight;
  bool gift;
};
static_assert(!std::has_unique_object_representations_v<Priced>);
static_assert(!internal::kHasDeterministicBytes<Priced>);

struct Plain {
  uint64_t a;
  int64_t b;
};
struct Empty {};
static_assert(internal::kHasDeterministicBytes<Plain>);
static_assert(internal::kHasDeterministicBytes<Empty>);

}  // namespace

template <>
struct EventCodec<Priced> {
  static void Encode(const Priced& e, std::string* out) {
    codec::Put(out, e.sku);
    codec::Put(out, e.qty);
    codec::Put(out, e.cents);
    codec::Put(out, e.weight);
    codec::Put(out, e.gift);
  }
  static absl::StatusOr<Priced> Decode(absl::string_view bytes) {
    codec::FieldReader r(bytes);
    Priced e;
    r.Get(&e.sku);
    r.Get(&e.qty);
    r.Get(&e.cents);
    r.Get(&e.weight);
    r.Get(&e.gift);
    if (absl::Status s = r.Finish(); !s.ok()) return s;
    return e;
  }
};

namespace {

// Builds a Priced in storage whose padding holds `fill`, as a stack slot or
// a reused heap block may.
Priced* MakeIn(void* storage, unsigned char fill, uint64_t sku) {
  std::memset(storage, fill, sizeof(Priced));
  auto* p = static_cast<Priced*>(storage);
  p->sku = sku;
  p->qty = -7;
  p->cents = std::numeric_limits<int64_t>::min() + 3;
  p->weight = 2.5;
  p->gift = true;
  return p;
}

TEST_CASE("a field-by-field codec round-trips every field", "[image][codec]") {
  alignas(Priced) unsigned char buf[sizeof(Priced)];
  const Priced* e = MakeIn(buf, 0xAB, 0x0102030405060708ULL);
  std::string bytes;
  EventCodec<Priced>::Encode(*e, &bytes);
  REQUIRE(bytes.size() == 8 + 4 + 8 + 8 + 1);
  // Little-endian, whatever the host.
  REQUIRE(static_cast<unsigned char>(bytes[0]) == 0x08);
  REQUIRE(static_cast<unsigned char>(bytes[7]) == 0x01);
  absl::StatusOr<Priced> back = EventCodec<Priced>::Decode(bytes);
  REQUIRE(back.ok());
  CHECK(back->sku == e->sku);
  CHECK(back->qty == -7);
  CHECK(back->cents == std::numeric_limits<int64_t>::min() + 3);
  CHECK(back->weight == 2.5);
  CHECK(back->gift);
}

TEST_CASE("two equal events encode to equal bytes", "[image][codec]") {
  alignas(Priced) unsigned char a_buf[sizeof(Priced)], b_buf[sizeof(Priced)];
  const Priced* a = MakeIn(a_buf, 0x00, 42);
  const Priced* b = MakeIn(b_buf, 0xFF, 42);  // same value, other padding
  // Their raw bytes differ (padding), so a raw codec would journal two
  // different payloads for one value...
  REQUIRE(std::memcmp(a_buf, b_buf, sizeof(Priced)) != 0);
  // ...the field codec does not.
  std::string ea, eb;
  EventCodec<Priced>::Encode(*a, &ea);
  EventCodec<Priced>::Encode(*b, &eb);
  REQUIRE(ea == eb);

  SECTION("the shop's events that have padding") {
    alignas(shop::OrderRequested) unsigned char x[sizeof(shop::OrderRequested)];
    alignas(shop::OrderRequested) unsigned char y[sizeof(shop::OrderRequested)];
    std::memset(x, 0x11, sizeof x);
    std::memset(y, 0xEE, sizeof y);
    auto* ox = new (x) shop::OrderRequested;
    auto* oy = new (y) shop::OrderRequested;
    ox->order = oy->order = 1001;
    ox->items = oy->items = 3;
    ox->amount = oy->amount = 250;
    std::string bx, by;
    EventCodec<shop::OrderRequested>::Encode(*ox, &bx);
    EventCodec<shop::OrderRequested>::Encode(*oy, &by);
    REQUIRE(bx == by);
    absl::StatusOr<shop::OrderRequested> back = EventCodec<shop::OrderRequested>::Decode(bx);
    REQUIRE(back.ok());
    CHECK(back->order == 1001);
    CHECK(back->items == 3);
    CHECK(back->amount == 250);

    std::string sx, sy;
    EventCodec<shop::StockReserved>::Encode(shop::StockReserved{7, 2}, &sx);
    EventCodec<shop::StockReserved>::Encode(shop::StockReserved{7, 2}, &sy);
    REQUIRE(sx == sy);
    REQUIRE(sx.size() == 12);
  }
}

TEST_CASE("a field-by-field codec refuses a payload of the wrong size", "[image][codec]") {
  std::string bytes;
  EventCodec<Priced>::Encode(Priced{1, 2, 3, 4.0, false}, &bytes);
  absl::StatusOr<Priced> short_one = EventCodec<Priced>::Decode(bytes.substr(0, 10));
  REQUIRE(short_one.status().code() == absl::StatusCode::kDataLoss);
  absl::StatusOr<Priced> long_one = EventCodec<Priced>::Decode(bytes + "x");
  REQUIRE(long_one.status().code() == absl::StatusCode::kDataLoss);
  std::string bad_bool = bytes;
  bad_bool.back() = '\x02';
  REQUIRE(EventCodec<Priced>::Decode(bad_bool).status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("the default codec writes an empty event as zero bytes", "[image][codec]") {
  std::string a, b;
  EventCodec<Empty>::Encode(Empty{}, &a);
  EventCodec<Empty>::Encode(Empty{}, &b);
  REQUIRE(a == std::string(sizeof(Empty), '\0'));
  REQUIRE(a == b);
  REQUIRE(EventCodec<Empty>::Decode(a).ok());
  std::string p;
  EventCodec<Plain>::Encode(Plain{5, -6}, &p);
  REQUIRE(p.size() == sizeof(Plain));
  absl::StatusOr<Plain> back = EventCodec<Plain>::Decode(p);
  REQUIRE(back.ok());
  CHECK(back->a == 5);
  CHECK(back->b == -6);
}

TEST_CASE("an event registry journals a field-codec event deterministically",
          "[image][codec][registry]") {
  EventRegistry reg;
  REQUIRE(reg.Register<Priced>("test.Priced").ok());
  alignas(Priced) unsigned char a_buf[sizeof(Priced)], b_buf[sizeof(Priced)];
  TypedEnvelope<Priced> ea(*MakeIn(a_buf, 0x5A, 9));
  TypedEnvelope<Priced> eb(*MakeIn(b_buf, 0xA5, 9));
  const EventRegistry::TypeInfo* info = nullptr;
  std::string pa, pb;
  REQUIRE(reg.Encode(ea, &info, &pa).ok());
  REQUIRE(reg.Encode(eb, &info, &pb).ok());
  REQUIRE(pa == pb);
  absl::StatusOr<std::unique_ptr<Envelope>> back =
      reg.Decode(info->type_id, info->version, pa, /*lsn=*/1);
  REQUIRE(back.ok());
  REQUIRE(static_cast<const TypedEnvelope<Priced>&>(**back).value.sku == 9);
}

}  // namespace
}  // namespace engram
