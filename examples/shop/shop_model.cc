#include "shop/shop_model.h"

#include <map>
#include <memory>

#include "engram/base/log.h"

namespace shop {
namespace {

engram::EventBus* g_bus = nullptr;

engram::ActorRef Find(engram::MemoryImage& image, uint64_t stream) {
  absl::StatusOr<engram::ActorRef> r = image.Find(stream);
  return r.ok() ? *r : engram::ActorRef();
}

template <class E>
void PublishAgain(uint64_t stream, uint64_t version, uint64_t lsn, E event) {
  if (g_bus == nullptr) return;
  engram::ImageEvent ev{lsn, stream, version,
                        std::make_shared<engram::TypedEnvelope<E>>(std::move(event))};
  engram::PublishOptions o;
  o.sequence = lsn;
  (void)g_bus->Publish(std::string("image.") + std::string(EventName<E>()), std::move(ev), o);
}

}  // namespace

void SetBus(engram::EventBus* bus) { g_bus = bus; }

const char* PhaseName(Phase p) {
  switch (p) {
    case Phase::kNew: return "new";
    case Phase::kRequested: return "requested";
    case Phase::kPaid: return "paid";
    case Phase::kConfirmed: return "confirmed";
    case Phase::kPrepared: return "prepared";
    case Phase::kDispatched: return "dispatched";
    case Phase::kCompleted: return "completed";
    case Phase::kCancelled: return "cancelled";
  }
  return "?";
}

Order::Order() {
  OnCommand([this](const Checkout& c) -> absl::Status {
    if (state().phase != Phase::kNew) return absl::OkStatus();  // a retry
    if (c.items <= 0 || c.amount <= 0) {
      return absl::InvalidArgumentError("an order needs items and a positive amount");
    }
    Emit(OrderRequested{stream_id(), c.items, c.amount});
    SendGated(Find(image(), kInventoryStream), Reserve{stream_id(), c.items});
    return absl::OkStatus();
  });
  OnCommand([this](const PaymentResult& r) {
    if (state().phase != Phase::kRequested) return;
    if (r.ok) {
      Emit(PaymentProcessed{stream_id()});
    } else {
      Emit(PaymentFailed{stream_id()});
      Emit(OrderCancelled{stream_id()});
      SendGated(Find(image(), kInventoryStream), Release{stream_id(), state().items});
    }
  });
  OnCommand([this](Confirm) {
    if (state().phase == Phase::kPaid) Emit(OrderConfirmed{stream_id()});
  });
  OnCommand([this](ShipStep) {
    switch (state().phase) {
      case Phase::kConfirmed: Emit(ShipmentPrepared{stream_id()}); break;
      case Phase::kPrepared: Emit(ShipmentDispatched{stream_id()}); break;
      case Phase::kDispatched:
        Emit(ShipmentDelivered{stream_id()});
        Emit(OrderCompleted{stream_id()});
        break;
      default: break;
    }
  });
  OnCommand([this](Resume) { Republish(); });
  OnCommand([this](GetPhase) { return state(); });

  OnEvent([](OrderState& s, const OrderRequested& e) {
    s.phase = Phase::kRequested;
    s.items = e.items;
    s.amount = e.amount;
  });
  OnEvent([](OrderState& s, const PaymentProcessed&) { s.phase = Phase::kPaid; });
  OnEvent([](OrderState&, const PaymentFailed&) {});
  OnEvent([](OrderState& s, const OrderCancelled&) { s.phase = Phase::kCancelled; });
  OnEvent([](OrderState& s, const OrderConfirmed&) { s.phase = Phase::kConfirmed; });
  OnEvent([](OrderState& s, const ShipmentPrepared&) { s.phase = Phase::kPrepared; });
  OnEvent([](OrderState& s, const ShipmentDispatched&) { s.phase = Phase::kDispatched; });
  OnEvent([](OrderState&, const ShipmentDelivered&) {});
  OnEvent([](OrderState& s, const OrderCompleted&) { s.phase = Phase::kCompleted; });
}

void Order::Republish() {
  const OrderState s = state();
  const uint64_t id = stream_id();
  // Re-send the stock command a crash may have lost (idempotent at the
  // inventory), once the events so far are durable. A placed order that
  // was not cancelled holds its reservation whatever phase it reached: the
  // Reserve sent at checkout may have been lost after the order went on.
  if (s.phase == Phase::kCancelled) {
    SendGated(Find(image(), kInventoryStream), Release{id, s.items});
  } else if (s.phase != Phase::kNew) {
    SendGated(Find(image(), kInventoryStream), Reserve{id, s.items});
  }
  OnDurable([id, s, v = version()](uint64_t, uint64_t last) {
    switch (s.phase) {
      case Phase::kRequested: PublishAgain(id, v, last, OrderRequested{id, s.items, s.amount}); break;
      case Phase::kPaid: PublishAgain(id, v, last, PaymentProcessed{id}); break;
      case Phase::kConfirmed: PublishAgain(id, v, last, OrderConfirmed{id}); break;
      case Phase::kPrepared: PublishAgain(id, v, last, ShipmentPrepared{id}); break;
      case Phase::kDispatched: PublishAgain(id, v, last, ShipmentDispatched{id}); break;
      default: break;
    }
  });
}

Inventory::Inventory() {
  OnCommand([this](const Restock& r) { Emit(StockAdded{r.items}); });
  OnCommand([this](const Reserve& r) {
    if (!state().reserved.contains(r.order)) Emit(StockReserved{r.order, r.items});
  });
  OnCommand([this](const Release& r) {
    if (state().reserved.contains(r.order) && !state().released.contains(r.order)) {
      Emit(StockReleased{r.order, r.items});
    }
  });
  OnCommand([this](GetAvailable) { return state().available; });
  OnEvent([](InventoryState& s, const StockAdded& e) { s.available += e.items; });
  OnEvent([](InventoryState& s, const StockReserved& e) {
    s.available -= e.items;
    s.reserved.insert(e.order);
  });
  OnEvent([](InventoryState& s, const StockReleased& e) {
    s.available += e.items;
    s.released.insert(e.order);
  });
}

OrdersByStatus::OrdersByStatus() {
  On([this](const OrderRequested& e, const engram::EventMeta&) { status_[e.order] = Phase::kRequested; });
  On([this](const PaymentProcessed& e, const engram::EventMeta&) { status_[e.order] = Phase::kPaid; });
  On([this](const OrderCancelled& e, const engram::EventMeta&) { status_[e.order] = Phase::kCancelled; });
  On([this](const OrderConfirmed& e, const engram::EventMeta&) { status_[e.order] = Phase::kConfirmed; });
  On([this](const ShipmentPrepared& e, const engram::EventMeta&) { status_[e.order] = Phase::kPrepared; });
  On([this](const ShipmentDispatched& e, const engram::EventMeta&) { status_[e.order] = Phase::kDispatched; });
  On([this](const OrderCompleted& e, const engram::EventMeta&) { status_[e.order] = Phase::kCompleted; });
  Handle([this](CountByStatus) {
    std::map<std::string, int64_t> counts;
    for (const auto& [order, phase] : status_) ++counts[PhaseName(phase)];
    return counts;
  });
}

Services::Services(engram::EventBus& bus, engram::MemoryImage& image) : image_(image) {
  auto on = [&](const char* type, auto fn) {
    absl::StatusOr<engram::SubscriptionId> s = bus.Subscribe<engram::ImageEvent>(
        absl::StrCat("image.", type), [this, fn](const engram::BusEvent<engram::ImageEvent>& e) {
          fn(e.data().stream_id);
        });
    if (!s.ok()) {
      engram::Log(engram::LogSeverity::kFatal,
                  absl::StrCat("shop: cannot subscribe to image.", type, ": ", s.status().ToString()));
    }
  };
  // PaymentService: approves payments up to the limit.
  bus.Subscribe<engram::ImageEvent>("image.shop.OrderRequested",
                                    [this](const engram::BusEvent<engram::ImageEvent>& e) {
                                      const auto& req =
                                          static_cast<const engram::TypedEnvelope<OrderRequested>&>(
                                              *e.data().event)
                                              .value;
                                      Find(image_, req.order)
                                          .Send(PaymentResult{req.amount <= kPaymentLimit});
                                    })
      .IgnoreError();
  // OrdersService, ShippingService.
  on("shop.PaymentProcessed", [this](uint64_t order) { Find(image_, order).Send(Confirm{}); });
  on("shop.OrderConfirmed", [this](uint64_t order) { Find(image_, order).Send(ShipStep{}); });
  on("shop.ShipmentPrepared", [this](uint64_t order) { Find(image_, order).Send(ShipStep{}); });
  on("shop.ShipmentDispatched", [this](uint64_t order) { Find(image_, order).Send(ShipStep{}); });
  // EmailNotification and Invoice.
  on("shop.ShipmentDispatched", [this](uint64_t order) {
    engram::MutexLock lock(&mu_);
    emailed_.insert(order);
  });
  on("shop.ShipmentDispatched", [this](uint64_t order) {
    engram::MutexLock lock(&mu_);
    invoiced_.insert(order);
  });
}

size_t Services::emails() const {
  engram::MutexLock lock(&mu_);
  return emailed_.size();
}
size_t Services::invoices() const {
  engram::MutexLock lock(&mu_);
  return invoiced_.size();
}

absl::Status RegisterEvents(engram::EventRegistry& r) {
  for (absl::Status s : {
           r.Register<OrderRequested>(EventName<OrderRequested>()),
           r.Register<PaymentProcessed>(EventName<PaymentProcessed>()),
           r.Register<PaymentFailed>(EventName<PaymentFailed>()),
           r.Register<OrderCancelled>(EventName<OrderCancelled>()),
           r.Register<OrderConfirmed>(EventName<OrderConfirmed>()),
           r.Register<ShipmentPrepared>(EventName<ShipmentPrepared>()),
           r.Register<ShipmentDispatched>(EventName<ShipmentDispatched>()),
           r.Register<ShipmentDelivered>(EventName<ShipmentDelivered>()),
           r.Register<OrderCompleted>(EventName<OrderCompleted>()),
           r.Register<StockReserved>(EventName<StockReserved>()),
           r.Register<StockReleased>(EventName<StockReleased>()),
           r.Register<StockAdded>(EventName<StockAdded>()),
       }) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

void RegisterKinds(engram::MemoryImage& image) {
  image.RegisterKind<Order>("order");
  image.RegisterKind<Inventory>("inventory");
}

}  // namespace shop
