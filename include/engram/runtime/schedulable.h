#ifndef ENGRAM_RUNTIME_SCHEDULABLE_H_
#define ENGRAM_RUNTIME_SCHEDULABLE_H_

namespace engram {

// What a turn left behind, as reported to the executor that ran it.
enum class TurnResult {
  kIdle,     // No more work; the unit will be scheduled again by whoever
             // gives it new work.
  kYield,    // Budget used up with work left: the executor must run it again.
  kStopped,  // The unit has finished for good; the executor must forget it.
};

// A unit of work that an Executor runs in turns: the runtime's only view of
// an actor. The runtime knows nothing else about what a Schedulable is.
//
// Contract: a Schedulable is handed to Executor::Schedule() exactly once per
// transition from idle to runnable; the executor then calls RunTurn() on one
// thread at a time until it returns kIdle or kStopped. After RunTurn()
// returns, the executor must not touch the object again (it may be freed)
// unless the result was kYield.
class Schedulable {
 public:
  virtual ~Schedulable() = default;

  // Runs at most `budget` units of work (messages). Never throws.
  virtual TurnResult RunTurn(int budget) noexcept = 0;
};

}  // namespace engram

#endif  // ENGRAM_RUNTIME_SCHEDULABLE_H_
