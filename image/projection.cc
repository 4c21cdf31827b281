#include "engram/image/projection.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engram/image/event_registry.h"
#include "engram/image/persistent_actor.h"
#include "engram/journal/reader.h"

namespace engram {

Projection::Projection() {
  Handle([this](const BusEvent<ImageEvent>& e) { Live(e.data()); });
  Handle([this](const internal::CatchUp& c) -> absl::StatusOr<Done> {
    absl::Status s = CatchUpFromJournal(c);
    if (!s.ok()) return s;
    return Done{};
  });
}

bool Projection::Handles(const TypeTag* t) const {
  return std::any_of(appliers_.begin(), appliers_.end(),
                     [t](const Applier& a) { return a.type == t; });
}

void Projection::Apply(const Envelope& e, const EventMeta& m) {
  for (Applier& a : appliers_) {
    if (a.type == e.type()) {
      a.apply(e, m);
      break;
    }
  }
  checkpoint_ = std::max(checkpoint_, m.lsn);
}

void Projection::Live(const ImageEvent& e) {
  if (!caught_up_) {
    buffered_.push_back(e);
    return;
  }
  if (e.lsn <= journal_end_) return;  // the journal gave it already
  if (e.event && Handles(e.event->type())) {
    Apply(*e.event, EventMeta{e.lsn, e.stream_id, e.stream_version});
  } else {
    checkpoint_ = std::max(checkpoint_, e.lsn);
  }
}

absl::Status Projection::CatchUpFromJournal(const internal::CatchUp& c) {
  absl::StatusOr<std::unique_ptr<Reader>> reader =
      Reader::Open(c.journal_dir, checkpoint_ + 1);
  if (!reader.ok()) return reader.status();
  const EventRegistry& registry = *c.registry;
  RecordView rec;
  while ((*reader)->next_lsn() <= c.up_to_lsn) {
    absl::StatusOr<bool> more = (*reader)->Next(&rec);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (rec.type_id == 0) continue;  // stream creations, type catalog
    const EventRegistry::TypeInfo* info = registry.FindById(rec.type_id);
    if (info == nullptr || !Handles(info->tag)) continue;  // not ours
    absl::StatusOr<std::unique_ptr<Envelope>> e =
        registry.Decode(rec.type_id, rec.schema_version, rec.payload, rec.lsn);
    if (!e.ok()) return e.status();
    Apply(**e, EventMeta{rec.lsn, rec.stream_id, rec.stream_version});
  }
  journal_end_ = c.up_to_lsn;
  checkpoint_ = std::max(checkpoint_, journal_end_);
  caught_up_ = true;
  std::vector<ImageEvent> pending;
  pending.swap(buffered_);
  for (const ImageEvent& e : pending) Live(e);
  return absl::OkStatus();
}

}  // namespace engram
