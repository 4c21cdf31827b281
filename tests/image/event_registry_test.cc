#include "engram/image/event_registry.h"

#include <cstring>
#include <string>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "engram/journal/epoch.h"

namespace engram {
namespace {

struct PriceV1 {
  int32_t cents;
};
struct Price {  // version 2: 64-bit cents and a currency code
  int64_t cents;
  char currency[8];  // no padding: the default codec journals its bytes
};
struct Note {
  std::string text;
};

}  // namespace

template <>
struct EventCodec<Note> {
  static void Encode(const Note& n, std::string* out) { out->append(n.text); }
  static absl::StatusOr<Note> Decode(absl::string_view bytes) {
    if (absl::StrContains(bytes, '\0')) return absl::DataLossError("NUL in note");
    return Note{std::string(bytes)};
  }
};

namespace {

TEST_CASE("a trivially copyable event round-trips without codec code", "[image][registry]") {
  EventRegistry reg;
  REQUIRE(reg.Register<Price>("shop.Price", 2).ok());
  TypedEnvelope<Price> e(Price{1234, "EUR"});
  const EventRegistry::TypeInfo* info = nullptr;
  std::string bytes;
  REQUIRE(reg.Encode(e, &info, &bytes).ok());
  REQUIRE(info->version == 2);
  auto back = reg.Decode(info->type_id, 2, bytes, 7);
  REQUIRE(back.ok());
  REQUIRE(PayloadOf<Price>(**back).cents == 1234);
  REQUIRE(std::string(PayloadOf<Price>(**back).currency) == "EUR");
}

TEST_CASE("a custom codec plugs in through EventCodec", "[image][registry]") {
  EventRegistry reg;
  REQUIRE(reg.Register<Note>("Note").ok());
  TypedEnvelope<Note> e(Note{"hello"});
  const EventRegistry::TypeInfo* info = nullptr;
  std::string bytes;
  REQUIRE(reg.Encode(e, &info, &bytes).ok());
  REQUIRE(bytes == "hello");
  auto bad = reg.Decode(info->type_id, 1, std::string("a\0b", 3), 42);
  REQUIRE(bad.status().code() == absl::StatusCode::kDataLoss);
  REQUIRE(absl::StrContains(bad.status().message(), "LSN 42"));
  REQUIRE(absl::StrContains(bad.status().message(), "Note"));
}

TEST_CASE("an upcaster turns an old schema version into the current one",
          "[image][registry]") {
  EventRegistry reg;
  REQUIRE(reg.Register<Price>("shop.Price", 2).ok());
  REQUIRE(reg.RegisterUpcaster("shop.Price", 1, [](absl::string_view v1)
                                                    -> absl::StatusOr<std::string> {
            if (v1.size() != sizeof(PriceV1)) return absl::DataLossError("bad v1 size");
            PriceV1 old;
            std::memcpy(&old, v1.data(), sizeof old);
            Price now{old.cents, "USD"};
            return std::string(reinterpret_cast<const char*>(&now), sizeof now);
          }).ok());
  PriceV1 old{250};
  auto e = reg.Decode(EventRegistry::TypeIdOf("shop.Price"), 1,
                      absl::string_view(reinterpret_cast<const char*>(&old), sizeof old), 9);
  REQUIRE(e.ok());
  REQUIRE(PayloadOf<Price>(**e).cents == 250);
  REQUIRE(std::string(PayloadOf<Price>(**e).currency) == "USD");
}

TEST_CASE("a version without an upcaster is an error naming type, version and LSN",
          "[image][registry]") {
  EventRegistry reg;
  REQUIRE(reg.Register<Price>("shop.Price", 3).ok());
  auto e = reg.Decode(EventRegistry::TypeIdOf("shop.Price"), 1, "xxxx", 77);
  REQUIRE(e.status().code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(absl::StrContains(e.status().message(), "LSN 77"));
  REQUIRE(absl::StrContains(e.status().message(), "shop.Price"));
  REQUIRE(absl::StrContains(e.status().message(), "version 1"));
}

TEST_CASE("an unknown type id and a too-new version are refused", "[image][registry]") {
  EventRegistry reg;
  REQUIRE(reg.Register<Price>("shop.Price", 1).ok());
  auto unknown = reg.Decode(12345, 1, "", 5);
  REQUIRE(unknown.status().code() == absl::StatusCode::kNotFound);
  REQUIRE(absl::StrContains(unknown.status().message(), "12345"));
  REQUIRE(absl::StrContains(unknown.status().message(), "LSN 5"));
  auto newer = reg.Decode(EventRegistry::TypeIdOf("shop.Price"), 2, "", 6);
  REQUIRE(newer.status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("registering a type or a name twice is refused", "[image][registry]") {
  EventRegistry reg;
  REQUIRE(reg.Register<Price>("shop.Price").ok());
  REQUIRE(reg.Register<Price>("other").code() == absl::StatusCode::kAlreadyExists);
  REQUIRE(reg.Register<PriceV1>("shop.Price").code() == absl::StatusCode::kAlreadyExists);
  REQUIRE(reg.Register<PriceV1>("").code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(reg.Register<PriceV1>("v0", 0).code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(reg.RegisterUpcaster("nope", 1, nullptr).code() == absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace engram

namespace engram {
namespace {
struct Shipped {
  int64_t order;
  int64_t parcels;  // no padding: the default codec journals its bytes
};
}  // namespace

template <>
struct EventCodec<Shipped> : TriviallyCopyableCodec<Shipped> {
  static std::string ToText(const Shipped& s) {
    return absl::StrCat("order=", s.order, " parcels=", s.parcels);
  }
};

namespace {

TEST_CASE("a codec with ToText describes a record's fields", "[image][registry]") {
  EventRegistry reg;
  REQUIRE(reg.Register<Shipped>("shop.Shipped").ok());
  REQUIRE(reg.Register<Price>("shop.Price").ok());
  Shipped s{42, 3};
  absl::StatusOr<std::string> text =
      reg.Describe(EventRegistry::TypeIdOf("shop.Shipped"), 1,
                   absl::string_view(reinterpret_cast<const char*>(&s), sizeof s), 1);
  REQUIRE(text.ok());
  REQUIRE(*text == "order=42 parcels=3");
  Price p{1, "EUR"};
  text = reg.Describe(EventRegistry::TypeIdOf("shop.Price"), 1,
                      absl::string_view(reinterpret_cast<const char*>(&p), sizeof p), 2);
  REQUIRE(text.ok());
  REQUIRE(text->empty());  // no ToText
  REQUIRE(reg.Describe(EventRegistry::TypeIdOf("shop.Shipped"), 1, "short", 3)
              .status()
              .code() == absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace engram

#include "engram/image/async_api_catalog.h"

namespace engram {
namespace {

// Checks that braces and brackets balance outside strings: a cheap guard
// that the document is structurally JSON.
bool Balanced(const std::string& s) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') --depth;
    if (depth < 0) return false;
  }
  return depth == 0 && !in_string;
}

TEST_CASE("the AsyncAPI catalog lists registered events and declared topics",
          "[image][catalog]") {
  EventRegistry reg;
  REQUIRE(reg.Register<Price>("shop.Price", 2).ok());
  REQUIRE(reg.Register<Shipped>("shop.Shipped").ok());
  AsyncApiCatalog catalog("shop", "1.0.0", "the \"shop\" example");
  catalog.AddImageEvents(reg, "image");
  REQUIRE(catalog.AddChannel("orders.*.created", "shop.Price", "new orders", false).ok());
  REQUIRE(catalog.AddChannel("orders..bad", "x", "", true).code() ==
          absl::StatusCode::kInvalidArgument);
  const std::string doc = catalog.ToJson();
  REQUIRE(Balanced(doc));
  REQUIRE(doc.find("\"asyncapi\": \"3.0.0\"") != std::string::npos);
  REQUIRE(doc.find("\"address\": \"image.shop.Price\"") != std::string::npos);
  REQUIRE(doc.find("\"address\": \"orders.*.created\"") != std::string::npos);
  REQUIRE(doc.find("\"x-engram-schema-version\": 2") != std::string::npos);
  REQUIRE(doc.find("\"action\": \"receive\"") != std::string::npos);
  REQUIRE(doc.find("the \\\"shop\\\" example") != std::string::npos);
  REQUIRE(doc.find("#/components/messages/shop.Shipped") != std::string::npos);
}

TEST_CASE("a type name whose id falls in the journal's reserved range is refused",
          "[image][registry]") {
  // Found by brute force over "reserved-probe-<n>": its XXH3-derived id is
  // 0xFFFFFF41, inside the range the journal keeps for its own records.
  const std::string name = "reserved-probe-12848820";
  REQUIRE(EventRegistry::TypeIdOf(name) == 0xFFFFFF41u);
  REQUIRE(IsReservedTypeId(EventRegistry::TypeIdOf(name)));
  EventRegistry reg;
  const absl::Status s = reg.Register<Note>(name);
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(s.message(), name));
  CHECK(absl::StrContains(s.message(), "0xFFFFFF41"));
  CHECK(absl::StrContains(s.message(), "0xFFFFFF00..0xFFFFFFFF"));
  CHECK(absl::StrContains(s.message(), "rename"));
  CHECK(reg.Types().empty());
  // Registration goes on for other names, and the C++ type is still free.
  REQUIRE(reg.Register<Note>("shop.Note").ok());
}

}  // namespace
}  // namespace engram
