// A persistent actor for image tests: a tally that Bump{n} commands add to
// (one Bumped event each) and Get reads. Register Bumped under a name of
// the test's choosing.
#ifndef ENGRAM_TESTS_IMAGE_TALLIER_H_
#define ENGRAM_TESTS_IMAGE_TALLIER_H_

#include <cstdint>

#include "engram/image/persistent_actor.h"

namespace engram::testing {

struct Bump {
  int64_t n;
};
struct Get {};
struct Bumped {
  int64_t n;
};
struct Tally {
  int64_t value = 0;
};

class Tallier : public PersistentActor<Tally> {
 public:
  Tallier() {
    OnCommand([this](const Bump& b) { Emit(Bumped{b.n}); });
    OnCommand([this](Get) { return state().value; });
    OnEvent([](Tally& s, const Bumped& e) { s.value += e.n; });
  }
};

}  // namespace engram::testing

#endif  // ENGRAM_TESTS_IMAGE_TALLIER_H_
