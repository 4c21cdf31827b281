#ifndef ENGRAM_EXAMPLES_SHOP_SHOP_MODEL_H_
#define ENGRAM_EXAMPLES_SHOP_SHOP_MODEL_H_

// The shop: the classic event-driven order flow as a memory image.
//
//   ShoppingCart --Checkout--> Order: OrderRequested (+ Inventory: StockReserved)
//   PaymentService   on OrderRequested    -> PaymentProcessed | PaymentFailed
//                                             (failed: OrderCancelled, StockReleased)
//   OrdersService    on PaymentProcessed  -> OrderConfirmed
//   ShippingService  on OrderConfirmed    -> ShipmentPrepared
//                    on ShipmentPrepared  -> ShipmentDispatched
//                    on ShipmentDispatched-> ShipmentDelivered, OrderCompleted
//   EmailNotification, Invoice            on ShipmentDispatched
//   OrdersByStatus (projection)           answers "orders by status"
//
// Orders and the inventory are persistent actors; the services are bus
// subscribers to the image's durable publications that send the next
// command to the order. An order ignores a step that does not fit its
// phase, so a step delivered again after a restart changes nothing; on
// restart, Resume makes every unfinished order publish its current phase
// again, and the flow goes on: every order ends completed or cancelled,
// exactly once.

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engram/actors/actor_ref.h"
#include "engram/base/internal/mutex.h"
#include "engram/bus/event_bus.h"
#include "engram/image/event_codec.h"
#include "engram/image/event_registry.h"
#include "engram/image/memory_image.h"
#include "engram/image/persistent_actor.h"
#include "engram/image/projection.h"
#include "engram/image/state_hash.h"

namespace shop {

// ---- events ----
struct OrderRequested { uint64_t order; int32_t items; int64_t amount; };
struct PaymentProcessed { uint64_t order; };
struct PaymentFailed { uint64_t order; };
struct OrderCancelled { uint64_t order; };
struct OrderConfirmed { uint64_t order; };
struct ShipmentPrepared { uint64_t order; };
struct ShipmentDispatched { uint64_t order; };
struct ShipmentDelivered { uint64_t order; };
struct OrderCompleted { uint64_t order; };
struct StockReserved { uint64_t order; int32_t items; };
struct StockReleased { uint64_t order; int32_t items; };
struct StockAdded { int64_t items; };

// The registered (and topic) name of each event: "shop.<Type>".
template <class E> constexpr const char* EventName();
#define SHOP_EVENT_NAME(T) \
  template <> constexpr const char* EventName<T>() { return "shop." #T; }
SHOP_EVENT_NAME(OrderRequested)
SHOP_EVENT_NAME(PaymentProcessed)
SHOP_EVENT_NAME(PaymentFailed)
SHOP_EVENT_NAME(OrderCancelled)
SHOP_EVENT_NAME(OrderConfirmed)
SHOP_EVENT_NAME(ShipmentPrepared)
SHOP_EVENT_NAME(ShipmentDispatched)
SHOP_EVENT_NAME(ShipmentDelivered)
SHOP_EVENT_NAME(OrderCompleted)
SHOP_EVENT_NAME(StockReserved)
SHOP_EVENT_NAME(StockReleased)
SHOP_EVENT_NAME(StockAdded)
#undef SHOP_EVENT_NAME

// ---- commands ----
struct Checkout { int32_t items; int64_t amount; };
struct PaymentResult { bool ok; };
struct Confirm {};
struct ShipStep {};
struct Resume {};
struct GetPhase {};
struct Reserve { uint64_t order; int32_t items; };
struct Release { uint64_t order; int32_t items; };
struct Restock { int64_t items; };
struct GetAvailable {};

enum class Phase : int {
  kNew = 0, kRequested, kPaid, kConfirmed, kPrepared, kDispatched, kCompleted, kCancelled,
};
inline bool Finished(Phase p) { return p == Phase::kCompleted || p == Phase::kCancelled; }
const char* PhaseName(Phase p);

inline constexpr uint64_t kInventoryStream = 1;
inline constexpr uint64_t kFirstOrder = 1000;
inline constexpr int64_t kPaymentLimit = 500;  // larger payments fail

struct OrderState {
  Phase phase = Phase::kNew;
  int32_t items = 0;
  int64_t amount = 0;
  // The canonical hash (engram/image/state_hash.h), field by field: the
  // struct has padding after `items`.
  friend void HashState(engram::StateHashWriter& w, const OrderState& s) {
    w.Add(s.phase);
    w.Add(s.items);
    w.Add(s.amount);
  }
};

class Order : public engram::PersistentActor<OrderState> {
 public:
  Order();

 private:
  // Publishes the event of the current phase again (after a restart).
  void Republish();
};

struct InventoryState {
  int64_t available = 0;
  absl::flat_hash_set<uint64_t> reserved, released;
  // The sets by their contents, in any order.
  friend void HashState(engram::StateHashWriter& w, const InventoryState& s) {
    w.Add(s.available);
    w.AddUnordered(s.reserved);
    w.AddUnordered(s.released);
  }
};

class Inventory : public engram::PersistentActor<InventoryState> {
 public:
  Inventory();
};

// Counts orders per status; answers CountByStatus with a map.
struct CountByStatus {};
class OrdersByStatus : public engram::Projection {
 public:
  OrdersByStatus();

 private:
  absl::flat_hash_map<uint64_t, Phase> status_;
};

// The stateless services: bus subscribers that drive orders. EmailNotification
// and Invoice record the orders they handled (idempotent by order id).
class Services {
 public:
  Services(engram::EventBus& bus, engram::MemoryImage& image);
  size_t emails() const;
  size_t invoices() const;

 private:
  engram::MemoryImage& image_;
  mutable engram::Mutex mu_;
  absl::flat_hash_set<uint64_t> emailed_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<uint64_t> invoiced_ ABSL_GUARDED_BY(mu_);
};

absl::Status RegisterEvents(engram::EventRegistry& registry);
void RegisterKinds(engram::MemoryImage& image);

// The bus an Order publishes on (set once at start-up).
void SetBus(engram::EventBus* bus);

}  // namespace shop

// Field-by-field codecs for the events with padding (OrderRequested has 4
// bytes between `items` and `amount`, the stock events 4 after `items`):
// their raw bytes would journal indeterminate padding, which the default
// codec refuses. Little-endian fields, packed. Decode also reads the raw
// x86-64 layout (sizeof bytes) that journals written before used.
namespace shop::internal {
template <class T>
absl::StatusOr<T> DecodeLegacyLayout(absl::string_view bytes) {
  T e;
  std::memcpy(&e, bytes.data(), sizeof(T));
  return e;
}

// StockReserved and StockReleased: {order, items}.
template <class T>
struct StockCodec {
  static void Encode(const T& e, std::string* out) {
    engram::codec::Put(out, e.order);
    engram::codec::Put(out, e.items);
  }
  static absl::StatusOr<T> Decode(absl::string_view bytes) {
    if (bytes.size() == sizeof(T)) return DecodeLegacyLayout<T>(bytes);
    engram::codec::FieldReader r(bytes);
    T e;
    r.Get(&e.order);
    r.Get(&e.items);
    if (absl::Status s = r.Finish(); !s.ok()) return s;
    return e;
  }
  static std::string ToText(const T& e) {
    return absl::StrCat("order=", e.order, " items=", e.items);
  }
};
}  // namespace shop::internal

namespace engram {
template <>
struct EventCodec<shop::OrderRequested> {
  static void Encode(const shop::OrderRequested& e, std::string* out) {
    codec::Put(out, e.order);
    codec::Put(out, e.items);
    codec::Put(out, e.amount);
  }
  static absl::StatusOr<shop::OrderRequested> Decode(absl::string_view bytes) {
    if (bytes.size() == sizeof(shop::OrderRequested)) {
      return shop::internal::DecodeLegacyLayout<shop::OrderRequested>(bytes);
    }
    codec::FieldReader r(bytes);
    shop::OrderRequested e;
    r.Get(&e.order);
    r.Get(&e.items);
    r.Get(&e.amount);
    if (absl::Status s = r.Finish(); !s.ok()) return s;
    return e;
  }
  static std::string ToText(const shop::OrderRequested& e) {
    return absl::StrCat("order=", e.order, " items=", e.items, " amount=", e.amount);
  }
};

template <>
struct EventCodec<shop::StockReserved> : shop::internal::StockCodec<shop::StockReserved> {};
template <>
struct EventCodec<shop::StockReleased> : shop::internal::StockCodec<shop::StockReleased> {};
}  // namespace engram

#endif  // ENGRAM_EXAMPLES_SHOP_SHOP_MODEL_H_
