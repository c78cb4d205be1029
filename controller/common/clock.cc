#include "controller/common/clock.h"

namespace registrar {

RealClock& RealClock::Get() {
  static RealClock clock;
  return clock;
}

}  // namespace registrar
