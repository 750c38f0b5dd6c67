// Names the calling thread, so that `top -H`, /proc/PID/task/*/comm and bench/thread_cpu.sh tell
// rametcd's threads apart. Linux keeps at most 15 bytes of a name.
#ifndef RAMETCD_BASE_THREAD_NAME_H_
#define RAMETCD_BASE_THREAD_NAME_H_

#include <pthread.h>

namespace rametcd {

inline void NameThisThread(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace rametcd

#endif  // RAMETCD_BASE_THREAD_NAME_H_
